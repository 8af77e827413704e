"""Money in: sending the STK push and applying its result, once, whatever the callback order."""
import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.context import Core
from escrow.db import Database, insert_once, utcnow
from escrow.funding import apply_money_in
from escrow.models import Order, PaymentAttempt, PaymentReceived
from escrow.orders import buyer_phone
from escrow.ports import GatewayError, PaymentGateway
from escrow.states import State

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentResult:
    """An STK result, from a callback or a query, in the core's words."""
    checkout_id: str
    succeeded: bool
    result_code: str
    description: str
    amount: int | None = None
    receipt: str | None = None


def send_stk_push(db: Database, core: Core, gateway: PaymentGateway, attempt_id: int) -> str:
    """Worker step: mark the attempt 'sending' (committed), call Daraja, record what it said.

    An attempt found already 'sending' means a worker died mid-call: it may have reached
    M-Pesa, so it becomes 'unknown' and is never pushed again."""
    with db.transaction() as session:
        attempt = session.get(PaymentAttempt, attempt_id)
        order = session.get(Order, attempt.order_id)
        if attempt.status == "sending":
            _set_attempt(session, attempt_id, "sending", status="unknown", result_desc="worker stopped mid-call")
            return "unknown"
        if attempt.status != "queued":
            return attempt.status
        if order.state != State.AWAITING_PAYMENT.value:
            _set_attempt(session, attempt_id, "queued", status="failed", result_desc="order no longer payable")
            return "failed"
        _set_attempt(session, attempt_id, "queued", status="sending")
        phone, reference, amount = buyer_phone(core, order), order.reference, attempt.amount
    try:
        accepted = gateway.request_payment(phone=phone, amount=amount, reference=reference,
                                           description=f"Order {reference}")
    except GatewayError as error:
        return _record_push_failure(db, attempt_id, error)
    with db.transaction() as session:
        _set_attempt(session, attempt_id, "sending", status="sent", checkout_request_id=accepted.checkout_id,
                     merchant_request_id=accepted.merchant_request_id)
    return "sent"


def _record_push_failure(db: Database, attempt_id: int, error: GatewayError) -> str:
    status = "unknown" if error.ambiguous else ("queued" if error.retryable else "failed")
    with db.transaction() as session:
        _set_attempt(session, attempt_id, "sending", status=status, result_desc=str(error)[:200])
    if status == "queued":
        raise error  # the outbox retries it later
    return status


def _set_attempt(session: Session, attempt_id: int, expected: str, **values) -> bool:
    return bool(session.execute(
        update(PaymentAttempt).where(PaymentAttempt.id == attempt_id, PaymentAttempt.status == expected)
        .values(updated_at=utcnow(), **values)).rowcount)


def record_payment_result(session: Session, core: Core, result: PaymentResult) -> str:
    """Apply an STK result once. Returns 'funded', 'failed', 'duplicate', 'orphan', 'suspense' or 'refunding'."""
    attempt = session.scalar(select(PaymentAttempt).where(PaymentAttempt.checkout_request_id == result.checkout_id))
    if attempt is None:
        return "orphan"
    if not result.succeeded:
        return _record_failed_attempt(session, attempt, result)
    won = session.execute(
        update(PaymentAttempt).where(PaymentAttempt.id == attempt.id, PaymentAttempt.status != "succeeded")
        .values(status="succeeded", result_code=result.result_code, result_desc=result.description[:200],
                updated_at=utcnow())).rowcount
    if not won:
        return "duplicate"
    outcome = apply_money_in(session, core, order_id=attempt.order_id, attempt_id=attempt.id,
                             receipt=result.receipt, amount=result.amount, channel="stk")
    if outcome != "duplicate":  # a receipt already recorded elsewhere is money we already hold
        session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt.id).values(receipt=result.receipt))
    return outcome


def _record_failed_attempt(session: Session, attempt: PaymentAttempt, result: PaymentResult) -> str:
    won = session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.id == attempt.id, PaymentAttempt.status.in_(("queued", "sending", "sent", "unknown")))
        .values(status="failed", result_code=result.result_code, result_desc=result.description[:200],
                updated_at=utcnow())).rowcount
    return "failed" if won else "duplicate"
