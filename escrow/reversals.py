"""Money in sent back by Daraja's Reversal on its TransID, for payers we cannot pay by B2C.

A paybill payer's number arrives masked or hashed, so money an order cannot take is returned to
whoever paid by reversing that transaction. A reversal is money out and follows the B2C rules:
recorded (one row per TransID, ever) and queued in the outbox with the fact that causes it; marked
'sending' (committed) before the call; a call that may have reached M-Pesa leaves it 'unknown',
never re-sent; its result, or a Transaction Status query on the original TransID ("Reversed"),
settles it. A failure, or no answer after the checks, is a finding: never retried automatically.
"""
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from escrow import ledger, outbox
from escrow.context import Core
from escrow.db import Database, db_now, insert_new, utcnow
from escrow.findings import close_finding, record_finding
from escrow.ledger import credit, debit
from escrow.models import OutboxItem, Reversal
from escrow.ports import GatewayError, MoneyInGateway

log = logging.getLogger(__name__)

REVERSAL = "reversal"                 # outbox kinds
REVERSAL_STATUS = "reversal_status"
IN_FLIGHT = ("sending", "sent", "unknown")
MAX_STATUS_CHECKS = 6


@dataclass(frozen=True)
class ReversalResult:
    """A reversal's fate from its result callback or a status query; `settled` False: not known yet."""
    settled: bool
    succeeded: bool
    result_code: str
    description: str


def reply_tag(core: Core, kind: str, subject_id: int) -> str:
    """`<id>/<tag>` for a result URL: only we (SECRET_KEY) can name this subject's answer, so the
    callback token alone cannot forge one."""
    return f"{subject_id}/{core.vault.sign(f'daraja-reply:{kind}:{subject_id}')[:32]}"


def reply_is_ours(core: Core, kind: str, subject_id: int, tag: str) -> bool:
    return hmac.compare_digest(reply_tag(core, kind, subject_id), f"{subject_id}/{tag}")


def queue_reversal(session: Session, core: Core, order_id: int | None, *, trans_id: str, amount: int) -> int | None:
    """Record the reversal, the outbox row that sends it and its first check (which also notices a
    send the outbox gave up on); None if this TransID was reversed before."""
    reversal_id = insert_new(session, Reversal, order_id=order_id, trans_id=trans_id, amount=amount, status="queued")
    if reversal_id is not None:
        outbox.enqueue(session, REVERSAL, reversal_id, due_at=db_now(session))
        schedule_status_check(session, core, reversal_id, 1)
    return reversal_id


def send_reversal(db: Database, core: Core, gateway: MoneyInGateway, reversal_id: int) -> str:
    """Worker step: 'sending' committed, the call, what Daraja said; found 'sending': unknown."""
    with db.transaction() as session:
        reversal = session.get(Reversal, reversal_id)
        if reversal.status == "sending":
            _unknown(session, core, reversal, "worker stopped mid-call")
            return "unknown"
        if reversal.status != "queued":
            return reversal.status
        if not _set(session, reversal_id, ("queued",), status="sending"):   # changed since it was read: not sent
            return session.scalar(select(Reversal.status).where(Reversal.id == reversal_id))
        trans_id, amount = reversal.trans_id, reversal.amount
    try:
        accepted = gateway.reverse_payment(trans_id=trans_id, amount=amount,
                                           reply_to=reply_tag(core, REVERSAL, reversal_id))
    except GatewayError as error:
        return _record_send_failure(db, core, reversal_id, error)
    with db.transaction() as session:
        _set(session, reversal_id, ("sending",), status="sent", conversation_id=accepted.conversation_id[:64],
             originator_conversation_id=accepted.originator_conversation_id[:64])
        schedule_status_check(session, core, reversal_id, 1)
    return "sent"


def _record_send_failure(db: Database, core: Core, reversal_id: int, error: GatewayError) -> str:
    with db.transaction() as session:
        reversal = session.get(Reversal, reversal_id)
        if error.ambiguous:
            _unknown(session, core, reversal, str(error))
            return "unknown"
        if error.retryable:  # never reached M-Pesa: the outbox sends it again later
            _set(session, reversal_id, ("sending",), status="queued", result_desc=str(error)[:200])
        else:
            _fail(session, reversal, "rejected", str(error))
    if error.retryable:
        raise error
    return "failed"


def schedule_status_check(session: Session, core: Core, reversal_id: int, round_: int) -> None:
    delay = timedelta(seconds=core.settings.b2c_query_after_seconds * 2 ** (round_ - 1))
    outbox.enqueue(session, REVERSAL_STATUS, reversal_id, due_at=db_now(session) + delay,
                   dedupe_key=f"{REVERSAL_STATUS}:{reversal_id}:{round_}")


def check_reversal(db: Database, core: Core, gateway: MoneyInGateway, reversal_id: int) -> str:
    """Worker step: a reversal still unsettled is asked about (the next check scheduled first);
    after MAX_STATUS_CHECKS, or once the outbox gave up sending it, it becomes a finding."""
    with db.transaction() as session:
        reversal = session.get(Reversal, reversal_id)
        if reversal.status not in ("queued", "sent", "unknown"):
            return reversal.status
        rounds = session.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.dedupe_key.like(f"{REVERSAL_STATUS}:{reversal_id}:%")))
        if reversal.status == "queued" and _send_given_up(session, reversal_id):
            _flag(session, reversal, "never sent: the outbox gave up after repeated errors (see its last_error)")
            return "flagged"
        if rounds > MAX_STATUS_CHECKS:
            _flag(session, reversal, f"still {reversal.status} after {MAX_STATUS_CHECKS} checks; never re-sent: "
                                     "check the statement")
            return "flagged"
        schedule_status_check(session, core, reversal_id, rounds + 1)
        if reversal.status == "queued":
            return "waiting to be sent"
        trans_id = reversal.trans_id
    gateway.query_reversal(trans_id=trans_id, reply_to=reply_tag(core, REVERSAL, reversal_id))
    return "queried"


def record_reversal_result(session: Session, core: Core, reversal_id: int, result: ReversalResult) -> str:
    """Apply a definite outcome once: 'succeeded', 'failed', 'pending' or 'duplicate'."""
    reversal = session.get(Reversal, reversal_id)
    if reversal is None:
        return "orphan"
    if not result.settled:
        return "pending"
    if result.succeeded:   # M-Pesa's word that the money went back stands, even after a failure it reported
        failed_before = reversal.status == "failed"
        if not _set(session, reversal_id, ("queued", "failed") + IN_FLIGHT, status="succeeded",
                    result_code=result.result_code, result_desc=result.description[:200]):
            return "duplicate"
        ledger.post(session, kind="reversal", dedupe_key=f"reversal:{reversal_id}", order_id=reversal.order_id,
                    lines=[debit(ledger.REFUNDS_PAYABLE, reversal.amount), credit(ledger.MPESA_CASH, reversal.amount)],
                    memo=f"reversed {reversal.trans_id}")
        if failed_before:
            close_finding(session, f"reversal-failed:{reversal_id}",
                          f"M-Pesa reversed {reversal.trans_id} after all: nothing of it is owed back any more")
        _close_refund_by_reversal(session, reversal.order_id)
        return "succeeded"
    if reversal.status not in IN_FLIGHT:
        return "duplicate"
    _fail(session, reversal, result.result_code, result.description)
    return "failed"


def _close_refund_by_reversal(session: Session, order_id: int | None) -> None:
    """An order refunding by Reversal alone (an operator returned paybill money held for review) is
    refunded once every reversal of it succeeded and no B2C refund of it is still open."""
    from escrow.models import Order, Payout
    from escrow.orders import transition
    from escrow.states import Event, State

    # locked and read afresh: two reversals answered at once then close it in turn, the second seeing the first
    session.flush()
    order = (session.get(Order, order_id, with_for_update={"key_share": True}, populate_existing=True)
             if order_id is not None else None)   # FOR NO KEY UPDATE: our postings only key-share it
    if order is None or order.state != State.REFUNDING.value:
        return
    open_refund = session.scalar(select(Payout.id).where(Payout.order_id == order.id, Payout.purpose == "refund",
                                                         Payout.status != "succeeded").limit(1))
    unsettled = session.scalar(select(Reversal.id).where(Reversal.order_id == order.id,
                                                         Reversal.status != "succeeded").limit(1))
    if open_refund is None and unsettled is None:
        transition(session, order, Event.REFUND_SUCCEEDED, actor="mpesa", reason="reversed")


def _send_given_up(session: Session, reversal_id: int) -> bool:
    return bool(session.scalar(select(OutboxItem.id).where(
        OutboxItem.kind == REVERSAL, OutboxItem.subject_id == reversal_id, OutboxItem.status == "failed")))


def _flag(session: Session, reversal: Reversal, why: str) -> None:
    record_finding(session, f"reversal-unknown:{reversal.id}", order_id=reversal.order_id,
                   summary=f"reversal of {reversal.trans_id} (KES {reversal.amount:,}) {why}; the money is still "
                           "owed back", trans_id=reversal.trans_id)


def _fail(session: Session, reversal: Reversal, code: str, why: str) -> None:
    if _set(session, reversal.id, ("sending",) + IN_FLIGHT, status="failed", result_code=str(code)[:16],
            result_desc=why[:200]):
        record_finding(session, f"reversal-failed:{reversal.id}", order_id=reversal.order_id,
                       summary=f"reversal of {reversal.trans_id} (KES {reversal.amount:,}) failed ({code}: {why}); "
                               "the money is still owed back: not retried", trans_id=reversal.trans_id)


def _unknown(session: Session, core: Core, reversal: Reversal, why: str) -> None:
    if _set(session, reversal.id, ("sending",), status="unknown", result_desc=why[:200]):
        schedule_status_check(session, core, reversal.id, 1)


def _set(session: Session, reversal_id: int, expected: tuple[str, ...], **values) -> bool:
    return bool(session.execute(update(Reversal).where(Reversal.id == reversal_id, Reversal.status.in_(expected))
                                .values(updated_at=utcnow(), **values)).rowcount)
