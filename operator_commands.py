"""`flask` commands operators act with besides the console, each audited under a name (issue 15):
`--as NAME` (default: the shell's user), role `cli`, from `shell:<user>`. The name reaches the order's
timeline as the console's operators' names do.

    flask orders cancel REF --reason TEXT [--as NAME]
    flask sms resend ID [--as NAME]
    flask codes list | flask codes unlock-caller NUMBER --reason TEXT | flask codes unlock-order REF --reason TEXT
    flask alerts list | flask alerts check        (check: for cron, when nothing polls /readyz)
"""
import getpass
import re

import click
from flask.cli import AppGroup

from commands import components, run
from escrow import audit
from escrow.audit import Actor

NAME = re.compile(r"^[A-Za-z0-9._-]{1,12}$")
AS_HELP = "Who is acting, for the audit log and the order's timeline (default: your shell user name)."


def as_option(command):
    return click.option("--as", "as_name", default=None, metavar="NAME", help=AS_HELP)(command)


def cli_actor(as_name: str | None) -> Actor:
    user = getpass.getuser()
    name = as_name or user
    if not NAME.match(name or ""):
        raise click.UsageError("--as takes 1 to 12 letters, digits, dots, dashes or underscores")
    return Actor(name, "cli", f"shell:{user}"[:64])


def shell_actor() -> Actor:
    """The shell's user as an administrator, for the commands that act on the installation (operators,
    erasure) rather than on an order."""
    return Actor("cli", "admin", f"shell:{getpass.getuser()}"[:64])


def dispute_audit(who: Actor, outcome: str, note: str):
    """The audit entry a CLI dispute decision writes in the use case's transaction."""
    def record(session, order):
        audit.record(session, who, f"dispute_{outcome}", order_reference=order.reference, reason=note,
                     before={"state": "disputed"}, after={"state": order.state})
    return record


def finding_audit(session, who: Actor, finding: dict, note: str) -> None:
    audit.record(session, who, "finding_resolved", order_reference=finding.get("order"),
                 target=f"finding #{finding['id']}", reason=note, before={"status": "open"},
                 after={"status": "resolved"})


def register_operator_commands(orders_group, sms_group, cli) -> None:
    @orders_group.command("cancel")
    @click.argument("reference")
    @click.option("--reason", required=True, help="Why; recorded in the timeline and the audit log.")
    @as_option
    def orders_cancel(reference, reason, as_name):
        """Cancel an order: unpaid, it is cancelled; paid (funded or sent), the buyer is refunded in full.
        Both parties are told by SMS. A disputed order is settled with `disputes resolve` instead."""
        from escrow.operator_cancel import cancel_by_operator
        who = cli_actor(as_name)

        def cancel():
            with components().db.transaction() as session:
                order = cancel_by_operator(session, components().core, reference, actor=who.name, reason=reason)
                audit.record(session, who, "order_cancelled", order_reference=order.reference, reason=reason,
                             after={"state": order.state})
                return order.state
        click.echo(f"{reference} {run(cancel)}")

    @sms_group.command("resend")
    @click.argument("sms_id", type=int)
    @as_option
    def sms_resend(sms_id, as_name):
        """Send an undelivered SMS again, once, as a new message (never a delivery code a newer one replaced)."""
        from escrow.models import Order, SmsMessage
        from escrow.resend import resend_sms
        who = cli_actor(as_name)

        def resend():
            with components().db.transaction() as session:
                copy = resend_sms(session, sms_id)
                order_id = session.get(SmsMessage, copy).order_id
                reference = session.get(Order, order_id).reference if order_id else None
                audit.record(session, who, "sms_resent", order_reference=reference, target=f"sms #{sms_id}",
                             after={"new_sms": copy})
                return copy
        click.echo(f"sms #{sms_id} queued again as #{run(resend)}")

    codes_group = AppGroup("codes", help="Delivery-code lockouts (wrong codes).")

    @codes_group.command("list")
    def codes_list():
        """Numbers stopped for a day of wrong codes, and open orders whose code is locked (times in EAT)."""
        from escrow import lockouts
        from escrow.phone import mask
        from escrow.reports import eat_text
        vault = components().core.vault
        with components().db.transaction() as session:
            callers, orders = lockouts.locked_callers(session), lockouts.locked_orders(session)
        for c in callers:
            number = mask(vault.unseal(c.sealed_number)) if c.sealed_number else "?"
            click.echo(f"number {number} {c.misses} wrong codes, last {eat_text(c.last_miss)}; open orders: "
                       f"{' '.join(c.orders) or '-'}")
        for o in orders:
            click.echo(f"order {o.reference} {o.state} code locked ({o.failures} wrong, {o.failures_total} in all) "
                       f"since {eat_text(o.updated_at)}")
        if not callers and not orders:
            click.echo("no lockouts")

    @codes_group.command("unlock-caller")
    @click.argument("number")
    @click.option("--reason", required=True)
    @as_option
    def codes_unlock_caller(number, reason, as_name):
        """Let NUMBER enter delivery codes again today."""
        from escrow import lockouts
        from escrow.phone import normalize_msisdn
        who = cli_actor(as_name)
        key = components().core.vault.phone_key(run(lambda: normalize_msisdn(number)))

        def unlock():
            with components().db.transaction() as session:
                lockouts.unlock_caller(session, key, who.name)
                audit.record(session, who, "caller_unlocked", target=f"caller {key[:12]}", reason=reason,
                             before={"locked": True}, after={"locked": False})
        run(unlock)
        click.echo("unlocked")

    @codes_group.command("unlock-order")
    @click.argument("reference")
    @click.option("--reason", required=True)
    @as_option
    def codes_unlock_order(reference, reason, as_name):
        """Let an open order's current delivery code be entered again."""
        from escrow import lockouts
        who = cli_actor(as_name)

        def unlock():
            with components().db.transaction() as session:
                order = lockouts.unlock_order(session, reference, who.name)
                audit.record(session, who, "code_unlocked", order_reference=order.reference, reason=reason,
                             before={"code_locked": True}, after={"code_locked": False})
        run(unlock)
        click.echo(f"{reference} code unlocked")

    alerts_group = AppGroup("alerts", help="Alerts to the people on call (ALERT_PHONES).")

    @alerts_group.command("list")
    def alerts_list():
        """Alerts of the last 7 days, newest first (times in EAT)."""
        from escrow import alerts
        from escrow.reports import eat_text
        with components().db.transaction() as session:
            rows = alerts.recent(session)
        for a in rows:
            click.echo(f"{eat_text(a.created_at)} {a.kind}: {a.summary} (told {a.recipients})")
        if not rows:
            click.echo("no alerts in the last 7 days")

    @alerts_group.command("check")
    def alerts_check():
        """Look now (from cron, when nothing polls /readyz): new money-critical findings, a low float, a stale
        worker heartbeat; text the people on call, at most once per kind per hour."""
        from console.health import heartbeat_age
        from escrow import alerts
        from escrow.settings import read_int
        zemi = components()
        settings = alerts.AlertSettings.from_mapping(zemi.settings)
        with zemi.db.transaction() as session:
            raised = alerts.check_findings(session, zemi.core, settings)
        age = heartbeat_age(zemi.redis)
        if age is None or age > read_int(zemi.settings, "WORKER_HEARTBEAT_MAX_AGE_SECONDS", 120, minimum=1):
            if zemi.stale_worker_alert()(age):
                raised.append(alerts.WORKER_STALE)
        click.echo(f"alerts raised: {', '.join(raised)}" if raised else "no new alerts")

    cli.add_command(codes_group)
    cli.add_command(alerts_group)
