"""Paybill confirmations held for the statement (issue 11: one payment must not fund two orders).

Transaction Status confirmed the TransID, Completed and the amount, but it may be the unnamed real
receipt of a payment we funded on an STK query's word (escrow/confirmation.py): the confirmation is
'await_stmt' with a 'paybill-held-for-statement' finding whose detail carries the TransID and the time
its money must have moved in ([since, until]: from the earliest push it may be, to its arrival). After
each statement run:

- a line for that TransID has been reconciled: the statement settled the money itself (matched it to
  the query-funded payment, its real receipt noted on the attempt; or posted it as new paybill money
  for the account the line names, through the idempotent paths). The confirmation is a duplicate of
  what the statement did, and the finding is resolved with what happened;
- the statement has covered [since, until] without that TransID: M-Pesa's own record contradicts the
  confirmation. It is 'contradicted' with a 'paybill-contradicted' finding; nothing was posted;
- otherwise it waits for the next run.

An STK query's "paid" held because a paybill payment may have quoted its receipt
('stk-paid-held-for-statement', escrow/reconcile.py) needs nothing here: the statement's line for its
receipt funds the still-open push (escrow/statement/match.py); its finding is resolved once the push
is settled.
"""
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.checking import STK_HELD_FOR_STATEMENT
from escrow.confirmation import AWAIT_STATEMENT, CONTRADICTED, HELD_FOR_STATEMENT
from escrow.findings import FINDING, record_finding, resolve_finding
from escrow.inbox import mark_callback
from escrow.models import InboundCallback, Order, PaymentAttempt, PaymentReceived, StatementLine
from escrow.payments import IN_DOUBT
from escrow.statement.runs import covers

BATCH = 200


def settle_held_confirmations(session: Session) -> dict:
    """One pass over the held confirmations: {'settled': n, 'contradicted': n, 'waiting': n}."""
    counts = {"settled": 0, "contradicted": 0, "waiting": 0}
    held = session.scalars(select(InboundCallback.id).where(
        InboundCallback.source == "c2b_confirmation", InboundCallback.status == AWAIT_STATEMENT)
        .order_by(InboundCallback.id).limit(BATCH)).all()
    for callback_id in held:
        finding = session.scalar(select(InboundCallback).where(
            InboundCallback.dedupe_key == f"{FINDING}:{HELD_FOR_STATEMENT}:{callback_id}"))
        if finding is None:
            counts["waiting"] += 1
            continue
        detail = json.loads(finding.body)
        counts[_settle(session, callback_id, finding, detail)] += 1
    counts["settled"] += _close_settled_stk_holds(session)
    return counts


def _close_settled_stk_holds(session: Session) -> int:
    """Resolve the 'stk-paid-held-for-statement' findings whose attempt is settled now (the statement
    funded the still-open push with its real receipt; or a later query, once nothing collided). One
    whose attempt still waits stays open: that is what keeps its order from expiring (escrow/checking.py)."""
    closed = 0
    findings = session.scalars(select(InboundCallback).where(
        InboundCallback.source == FINDING, InboundCallback.status == "open",
        InboundCallback.dedupe_key.like(f"{FINDING}:{STK_HELD_FOR_STATEMENT}:%")).limit(BATCH)).all()
    for finding in findings:
        attempt = session.get(PaymentAttempt, json.loads(finding.body).get("attempt_id") or 0)
        if attempt is not None and attempt.status not in IN_DOUBT:
            _close(session, finding, f"settled: the push is {attempt.status} (receipt {attempt.receipt})")
            closed += 1
    return closed


def _settle(session: Session, callback_id: int, finding: InboundCallback, detail: dict) -> str:
    trans_id = detail["trans_id"]
    line = session.scalar(select(StatementLine).where(StatementLine.receipt == trans_id,
                                                      StatementLine.status != "pending").limit(1))
    if line is not None:
        what = _what_the_statement_did(session, trans_id, line)
        mark_callback(session, callback_id, "duplicate", f"settled by the statement: {what}")
        _close(session, finding, f"settled by the statement pass: {what}")
        return "settled"
    since, until = datetime.fromisoformat(detail["since"]), datetime.fromisoformat(detail["until"])
    if not covers(session, since, until):
        return "waiting"
    mark_callback(session, callback_id, CONTRADICTED, f"the statement covered its time without {trans_id}")
    record_finding(session, f"paybill-contradicted:{callback_id}", order_id=_order_id(session, detail),
                   summary=f"paybill confirmation {trans_id} of KES {detail['amount']:,} for account "
                           f"{detail['account']!r} was held for the statement, which covered "
                           f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC and never shows that receipt: "
                           "not funded, no ledger effect", trans_id=trans_id, callback_id=callback_id)
    _close(session, finding, "contradicted: the statement never shows the receipt (paybill-contradicted)")
    return "contradicted"


def _what_the_statement_did(session: Session, trans_id: str, line: StatementLine) -> str:
    noted = session.scalar(select(PaymentAttempt).where(PaymentAttempt.receipt == trans_id))
    if noted is not None:
        reference = session.scalar(select(Order.reference).where(Order.id == noted.order_id))
        return f"{trans_id} is the receipt of order {reference}'s STK push ({noted.status}), per the statement"
    payment = session.scalar(select(PaymentReceived).where(PaymentReceived.receipt == trans_id))
    if payment is not None:
        reference = session.scalar(select(Order.reference).where(Order.id == payment.order_id))
        return f"{trans_id} posted for order {reference or 'none'} ({payment.outcome}; line {line.status})"
    return f"its line is '{line.status}' (see the statement findings for {trans_id})"


def _close(session: Session, finding: InboundCallback, note: str) -> None:
    if finding.status == "open":
        resolve_finding(session, finding.id, note)


def _order_id(session: Session, detail: dict) -> int | None:
    return session.scalar(select(Order.id).where(Order.reference == (detail.get("account") or "").strip().upper()))
