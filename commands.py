"""The operator's and developer's `flask` commands, thin wrappers over the core's use cases and reports.

Each concept has its module beside this one; register_commands (called by app.py) adds them all:

    order_commands.py      orders show / list / return-payment, disputes resolve, sms list, ledger check
    operator_commands.py   orders cancel, sms resend, codes ..., alerts ... (audited under --as NAME)
    mpesa_commands.py      mpesa simulate / balance / opening-balance / register-pull / register-urls,
                           callbacks list / show
    reconcile_commands.py  reconcile, reconcile statement, reconcile resolve
    process_commands.py    worker, phone, embedded-redis: the processes beside the web app
    admin_commands.py      db upgrade / downgrade, keys reseal, operators add / disable
    data_commands.py       data purge / erase (escrow/privacy)
    api/commands.py        apikeys ..., webhooks ...
"""
import click
from flask import Flask, current_app

from escrow.errors import EscrowError


def components():
    """The running app's wiring (app.py's Components)."""
    return current_app.extensions["zemi"]


def run(action):
    """Run an operator action; the core's refusals become a clear message and exit code 1."""
    try:
        return action()
    except EscrowError as error:
        raise click.ClickException(str(error)) from None


def register_commands(app: Flask) -> None:
    from admin_commands import db_group, keys_group, operators_group
    from api.commands import apikeys_group, webhooks_group
    from data_commands import data_group
    from mpesa_commands import callbacks_group, mpesa_group
    from operator_commands import register_operator_commands
    from order_commands import disputes_group, ledger_group, orders_group, sms_group
    from process_commands import embedded_redis_command, phone_command, worker_command
    from reconcile_commands import reconcile_command

    for command in (db_group, keys_group, operators_group, orders_group, disputes_group, sms_group, ledger_group,
                    mpesa_group, callbacks_group, reconcile_command, worker_command, phone_command,
                    embedded_redis_command, apikeys_group, webhooks_group, data_group):
        app.cli.add_command(command)
    register_operator_commands(orders_group, sms_group, app.cli)   # orders cancel, sms resend, codes, alerts
