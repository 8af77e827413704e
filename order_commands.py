"""`flask orders`, `flask disputes`, `flask sms list` and `flask ledger check`: looking at orders, the
messages about them and the ledger that holds their money, and an operator's decisions on them.
(`orders cancel` and `sms resend` join these groups from operator_commands.py.)"""
import sys

import click
from flask.cli import AppGroup

from commands import components, run
from escrow import audit
from escrow.errors import EscrowError
from escrow.reports import (ATTENTION, ledger_findings, order_list_report, order_report, sms_report,
                            undelivered_sms_report)
from escrow.states import State
from operator_commands import as_option, cli_actor, dispute_audit

orders_group = AppGroup("orders", help="Look at orders.")
disputes_group = AppGroup("disputes", help="Settle disputes.")
sms_group = AppGroup("sms", help="SMS sent or recorded.")
ledger_group = AppGroup("ledger", help="The double-entry ledger.")


@orders_group.command("show")
@click.argument("reference")
@click.option("--reveal", is_flag=True, help="Show full phone numbers (personal data).")
def orders_show(reference, reveal):
    """Print an order: `<reference> <state>` first, then amounts and its timeline."""
    with components().db.transaction() as session:
        try:
            lines = order_report(session, components().core, reference, reveal=reveal)
        except EscrowError:
            raise click.ClickException(f"no order {reference}")
    click.echo("\n".join(lines))


@orders_group.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice([state.value for state in State]),
              help="Only orders in this state (repeatable).")
@click.option("--attention", is_flag=True, help="Only orders an operator must decide: "
              + ", ".join(ATTENTION) + ".")
@click.option("--number", default=None, help="Only orders where this number is buyer or seller.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--reveal", is_flag=True, help="Show full phone numbers (personal data).")
def orders_list(states, attention, number, limit, reveal):
    """The most recently changed orders, newest first, one line each."""
    def report():
        with components().db.transaction() as session:
            return order_list_report(session, components().core, states=tuple(states) + (ATTENTION * attention),
                                     number=number, limit=limit, reveal=reveal)
    lines = run(report)
    click.echo("\n".join(lines) if lines else "no orders")


@orders_group.command("return-payment")
@click.argument("reference")
@click.option("--note", default="", help="Why, for the order's timeline.")
@as_option
def orders_return_payment(reference, note, as_name):
    """Return a payment held in suspense (wrong amount) to the buyer; the order goes to refunding."""
    from escrow.lifecycle import refund_review
    who = cli_actor(as_name)

    def return_payment():
        with components().db.transaction() as session:
            order = refund_review(session, components().core, reference, note=note, actor=who.name)
            audit.record(session, who, "payment_returned", order_reference=order.reference, reason=note or None,
                         before={"state": "needs_review"}, after={"state": order.state})
            return order.state
    click.echo(f"{reference} {run(return_payment)}")


@disputes_group.command("resolve")
@click.argument("reference")
@click.option("--release", "outcome", flag_value="release", help="Pay the seller as if delivered.")
@click.option("--refund", "outcome", flag_value="refund", help="Refund the buyer in full.")
@click.option("--split", "to_seller", type=int, default=None, help="The seller's share of the price in KES, "
              "before the fee (a seller-pays fee comes out of it); the buyer gets back the rest of the price.")
@click.option("--note", required=True, help="The decision's reason; recorded in the timeline.")
@as_option
def disputes_resolve(reference, outcome, to_seller, note, as_name):
    """Resolve a disputed order; both parties are told by SMS. Audited under --as NAME."""
    if (outcome is None) == (to_seller is None):
        raise click.UsageError("give exactly one of --release, --refund or --split AMOUNT")
    outcome, who = outcome or "split", cli_actor(as_name)
    state = run(lambda: components().service.resolve_dispute(reference, outcome=outcome, to_seller=to_seller,
                                                              note=note, actor=who.name,
                                                              audit=dispute_audit(who, outcome, note)))
    click.echo(f"{reference} {state}")


@sms_group.command("list")
@click.option("--to", "to", default=None, help="Only messages to this number.")
@click.option("--reveal", is_flag=True, help="Show full phone numbers (codes stay hidden).")
@click.option("--undelivered", is_flag=True, help="Only messages not delivered (queued, sending, sent without a "
              "delivery report, failed, undelivered) for longer than --older-than.")
@click.option("--older-than", "older_than", type=click.IntRange(min=0), default=None, metavar="MINUTES",
              help="With --undelivered: created at least this many minutes ago (default 30).")
def sms_list(to, reveal, undelivered, older_than):
    if older_than is not None and not undelivered:
        raise click.UsageError("--older-than goes with --undelivered")
    with components().db.transaction() as session:
        if undelivered:
            lines = undelivered_sms_report(session, components().core, to=to, reveal=reveal,
                                           older_than_minutes=30 if older_than is None else older_than)
        else:
            lines = sms_report(session, components().core, to=to, reveal=reveal)
    if undelivered and not lines:
        click.echo("no undelivered messages")
        return
    click.echo("\n".join(lines) if lines else "no messages")


@ledger_group.command("check")
def ledger_check():
    """Verify the ledger; exits 1 on any violation (implausible amounts included); prints a
    WARNING for each unresolved anomaly (escrow/anomalies.py)."""
    from escrow.anomalies import ledger_anomalies
    from escrow.statement.balances import FloatSettings, balance_notes
    from escrow.statement.runs import completeness_notes

    zemi = components()
    with zemi.db.transaction() as session:
        violations, notes = ledger_findings(session)
        notes += completeness_notes(session)
        notes += balance_notes(session, zemi.settings.get("MPESA_B2C_SHORTCODE"), FloatSettings.from_mapping(zemi.settings))
        failures, warnings = ledger_anomalies(session)   # escrow/anomalies.py: which fail, which warn
    journal = zemi.service.intake.journal
    if journal is not None and journal.pending_files():
        warnings.append(f"{journal.pending_files()} callback journal file(s) in {journal.directory} wait to be "
                        f"replayed (callbacks kept while the database was away): is `flask worker` running here?")
    violations += failures
    for line in notes:
        click.echo(line)
    for line in warnings:
        click.echo(f"WARNING: {line}")
    for line in violations:
        click.echo(f"VIOLATION: {line}", err=True)
    click.echo("ledger OK" if not violations else f"{len(violations)} violation(s)")
    sys.exit(1 if violations else 0)
