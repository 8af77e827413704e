"""What `flask ledger check` reports beyond the books balancing (issue 11 finding 11).

Failures (the check exits 1: money is wrong, or no M-Pesa account could hold it):
  - a posting larger than PLAUSIBLE_POSTING: no single M-Pesa transaction (at most
    MPESA_MAX_PER_TRANSACTION, plus our fee on top) moves that much;
  - an account balance beyond PLAUSIBLE_BALANCE;
  - money paid out twice (a 'double_paid' transfer) with no finding to recover it.
Warnings (printed "WARNING: ...", exit 0: the books are right, a person is needed):
  - payment attempts 'unknown' with no finding for their order (the reconciler is still asking);
  - callbacks stored but not processed after UNPROCESSED_AFTER (the reconcile pass retries them);
  - callbacks 'malformed' (`flask callbacks list --review`);
  - paybill confirmations held for the statement ('await_stmt': one may quote another order's receipt,
    escrow/confirmation.py) for over HELD_FOR_STATEMENT_AFTER: the statement pass is not settling them;
  - suspense not explained by a finding or by its order waiting in needs_review;
  - money paid out beyond what was owed (ledger account 'overpaid'), awaiting recovery.
"""
import json
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.confirmation import AWAIT_STATEMENT
from escrow.db import db_now
from escrow.findings import FINDING
from escrow.models import InboundCallback, JournalEntry, Order, PaymentAttempt, Payout, Posting
from escrow.settings import MPESA_MAX_PER_TRANSACTION
from escrow.states import State

PLAUSIBLE_POSTING = 2 * MPESA_MAX_PER_TRANSACTION
PLAUSIBLE_BALANCE = 10_000_000_000          # KES 10 billion: far beyond any float we could hold
UNPROCESSED_AFTER = timedelta(minutes=5)
HELD_FOR_STATEMENT_AFTER = timedelta(hours=1)   # a statement pass runs every 15 minutes by default
_NOT_CALLBACKS = (FINDING, "sms_inbound_done")


def ledger_anomalies(session: Session) -> tuple[list[str], list[str]]:
    """(failures, warnings), each a line for the operator."""
    findings = _findings(session)
    failures = _implausible(session) + _unflagged_double_payments(session, findings)
    warnings = (_unknown_attempts(session, findings) + _unprocessed_callbacks(session) + _malformed_callbacks(session)
                + _held_for_statement(session) + _unexplained_suspense(session, findings) + _overpaid(session))
    return failures, warnings


def _findings(session: Session) -> list[dict]:
    return [json.loads(body) for body in session.scalars(select(InboundCallback.body)
                                                         .where(InboundCallback.source == FINDING))]


def _implausible(session: Session) -> list[str]:
    big = session.execute(select(Posting.entry_id, Posting.account, Posting.amount)
                          .where(func.abs(Posting.amount) > PLAUSIBLE_POSTING).limit(20)).all()
    lines = [f"implausible posting: entry {entry} moves KES {amount:,} on {account} (no M-Pesa transaction "
             f"exceeds KES {MPESA_MAX_PER_TRANSACTION:,})" for entry, account, amount in big]
    for account in ledger.ACCOUNTS:
        balance = ledger.balance(session, account)
        if abs(balance) > PLAUSIBLE_BALANCE:
            lines.append(f"implausible balance: {account} is KES {balance:,}")
    return lines


def _unflagged_double_payments(session: Session, findings: list[dict]) -> list[str]:
    flagged = {finding.get("originator_id") for finding in findings if finding.get("kind") == "double-payment"}
    rows = session.execute(select(Payout.originator_conversation_id, Payout.amount, Payout.receipt)
                           .where(Payout.status == "double_paid")).all()
    return [f"transfer {originator} (KES {amount:,}, receipt {receipt}) was paid twice and no finding says so"
            for originator, amount, receipt in rows if originator not in flagged]


def _unknown_attempts(session: Session, findings: list[dict]) -> list[str]:
    flagged = {finding.get("order") for finding in findings}
    references = session.scalars(select(Order.reference).join(PaymentAttempt, PaymentAttempt.order_id == Order.id)
                                 .where(PaymentAttempt.status == "unknown")).all()
    unflagged = [reference for reference in references if reference not in flagged]
    if not unflagged:
        return []
    return [f"{len(unflagged)} payment attempt(s) unknown with no finding (orders {', '.join(unflagged[:10])}): "
            f"the reconciler is still checking them with M-Pesa"]


def _unprocessed_callbacks(session: Session) -> list[str]:
    cutoff = db_now(session) - UNPROCESSED_AFTER
    stuck = session.scalar(select(func.count()).select_from(InboundCallback).where(
        InboundCallback.status == "received", InboundCallback.received_at <= cutoff,
        InboundCallback.source.not_in(_NOT_CALLBACKS)))
    if not stuck:
        return []
    return [f"{stuck} callback(s) stored but not processed for over {UNPROCESSED_AFTER.seconds // 60} minutes: "
            f"`flask reconcile` retries them (`flask callbacks list --status received`)"]


def _malformed_callbacks(session: Session) -> list[str]:
    count = session.scalar(select(func.count()).select_from(InboundCallback)
                           .where(InboundCallback.status == "malformed"))
    return [f"{count} malformed callback(s) kept for review: `flask callbacks list --review`"] if count else []


def _held_for_statement(session: Session) -> list[str]:
    count = session.scalar(select(func.count()).select_from(InboundCallback).where(
        InboundCallback.status == AWAIT_STATEMENT,
        InboundCallback.received_at <= db_now(session) - HELD_FOR_STATEMENT_AFTER))
    if not count:
        return []
    return [f"{count} paybill confirmation(s) held for the statement for over an hour (each may quote another "
            f"order's receipt; paybill-held-for-statement findings): run `flask reconcile statement`, then "
            f"`flask callbacks list --review`"]


def _unexplained_suspense(session: Session, findings: list[dict]) -> list[str]:
    """Suspense per order (or per payment, for money that matched no order) with nothing explaining it."""
    by_order = session.execute(select(Posting.order_id, func.sum(Posting.amount))
                               .where(Posting.account == ledger.SUSPENSE).group_by(Posting.order_id)).all()
    flagged_orders = {finding.get("order") for finding in findings}
    flagged_ids = {str(value) for finding in findings for key, value in finding.items()
                   if key in ("trans_id", "receipt")}
    lines = []
    for order_id, total in by_order:
        if not total:
            continue
        if order_id is None:
            keys = session.scalars(select(JournalEntry.dedupe_key).join(Posting, Posting.entry_id == JournalEntry.id)
                                   .where(Posting.account == ledger.SUSPENSE, Posting.order_id.is_(None))).all()
            unexplained = [key for key in keys if key.split(":", 1)[-1] not in flagged_ids]
            if unexplained:
                lines.append(f"suspense holds money for no order not explained by a finding: {', '.join(unexplained[:10])}")
            continue
        reference, state = session.execute(select(Order.reference, Order.state).where(Order.id == order_id)).one()
        if state != State.NEEDS_REVIEW.value and reference not in flagged_orders:
            lines.append(f"suspense holds KES {-total:,} for order {reference} ({state}), not explained by a finding")
    return [f"suspense: {line}" for line in lines]


def _overpaid(session: Session) -> list[str]:
    overpaid = ledger.balance(session, ledger.OVERPAID)
    if not overpaid:
        return []
    return [f"KES {overpaid:,} paid out beyond what was owed (double payments, results for more than we sent): "
            f"recover it (Daraja's Reversal); `flask reconcile --findings` lists each"]
