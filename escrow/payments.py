"""Money in: sending the STK push and applying its result, once, whatever the callback order."""
import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.db import Database, utcnow
from escrow.findings import record_finding
from escrow.funding import apply_money_in
from escrow.models import Order, PaymentAttempt
from escrow.orders import buyer_phone
from escrow.ports import GatewayError, PaymentGateway
from escrow.states import State

log = logging.getLogger(__name__)


# An attempt in these states may have reached M-Pesa: it is settled by its callback, an STK query
# or the statement, never forgotten, and its order waits in checking_payment past its pay-by time.
IN_DOUBT = ("sending", "sent", "unknown")
MAX_CHECKOUT_ID = 64   # payment_attempts.checkout_request_id


@dataclass(frozen=True)
class PaymentResult:
    """An STK result, from a callback or a query, in the core's words. `attempt_id` is our own
    attempt id when the callback came to that attempt's own URL (/hooks/stk/<token>/a<id>)."""
    checkout_id: str
    succeeded: bool
    result_code: str
    description: str
    amount: int | None = None
    receipt: str | None = None
    attempt_id: int | None = None


def send_stk_push(db: Database, core: Core, gateway: PaymentGateway, attempt_id: int) -> str:
    """Worker step: mark the attempt 'sending' (committed), call Daraja, record what it said.

    An attempt found already 'sending' means a worker died mid-call: it may have reached
    M-Pesa, so it becomes 'unknown' and is never pushed again."""
    with db.transaction() as session:
        # Locked attempt first, then order (the order a callback takes them in): the pay-by timer then
        # either sees this push 'sending' (and holds the order for checking) or expired it first.
        attempt = session.get(PaymentAttempt, attempt_id, with_for_update=True)
        order = session.get(Order, attempt.order_id, with_for_update=True)
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
                                           description=f"Order {reference}", attempt_id=attempt_id)
    except GatewayError as error:
        return _record_push_failure(db, attempt_id, error)
    with db.transaction() as session:
        if not _set_attempt(session, attempt_id, "sending", status="sent", checkout_request_id=accepted.checkout_id,
                            merchant_request_id=accepted.merchant_request_id):
            return _keep_checkout(session, attempt_id, accepted)
    return "sent"


def _keep_checkout(session: Session, attempt_id: int, accepted) -> str:
    """Another worker took the push while this one waited on Daraja and now holds it in doubt
    ('unknown'): keep the ids Daraja gave, so an STK query can settle it. Returns its status."""
    session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt_id,
                                                 PaymentAttempt.checkout_request_id.is_(None))
                    .values(checkout_request_id=accepted.checkout_id,
                            merchant_request_id=accepted.merchant_request_id, updated_at=utcnow()))
    return session.scalar(select(PaymentAttempt.status).where(PaymentAttempt.id == attempt_id))


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
    """Apply an STK result once. Returns 'funded', 'failed', 'duplicate', 'orphan', 'conflict',
    'suspense' or 'refunding'. Found by its checkout id, else by the attempt id of its URL."""
    outcome = apply_fresh_success(session, core, result)
    if outcome is not None:
        return outcome
    attempt = _attempt_by_checkout(session, result.checkout_id)
    if attempt is not None and result.attempt_id not in (None, attempt.id):
        _record_conflict(session, result, attempt, f"{result.checkout_id} belongs to attempt {attempt.id}")
        return "conflict"
    if attempt is None and result.attempt_id is not None:
        attempt, problem = link_checkout_id(session, result)
        if problem:
            return "conflict"
    if attempt is None:
        return "orphan"
    if not result.succeeded:
        return _record_failed_attempt(session, attempt, result, core)
    won = session.execute(
        update(PaymentAttempt).where(PaymentAttempt.id == attempt.id, PaymentAttempt.status != "succeeded")
        .values(status="succeeded", result_code=result.result_code, result_desc=result.description[:200],
                updated_at=utcnow())).rowcount
    if not won:
        _note_real_receipt(session, attempt, result)
        return "duplicate"
    outcome = apply_money_in(session, core, order_id=attempt.order_id, attempt_id=attempt.id,
                             receipt=result.receipt, amount=result.amount, channel="stk")
    if outcome != "duplicate":  # a receipt already recorded elsewhere is money we already hold
        session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt.id).values(receipt=result.receipt))
    return outcome


def _claim_fresh_success(session: Session, result: PaymentResult):
    """The common case in one statement: a success for an attempt found by its checkout id (and, when
    the callback came to an attempt's own URL, that attempt), not yet succeeded and with no receipt:
    marked succeeded with this receipt. Returns (attempt id, order id), or None for every other case,
    which the general path below sorts out (conflicts, links, duplicates, failures)."""
    if not (result.succeeded and result.receipt):
        return None
    match = [PaymentAttempt.checkout_request_id == result.checkout_id, PaymentAttempt.status != "succeeded",
             PaymentAttempt.receipt.is_(None)]
    if result.attempt_id is not None:
        match.append(PaymentAttempt.id == result.attempt_id)
    return session.execute(
        update(PaymentAttempt).where(*match)
        .values(status="succeeded", result_code=result.result_code, result_desc=result.description[:200],
                receipt=result.receipt, updated_at=utcnow())
        .returning(PaymentAttempt.id, PaymentAttempt.order_id).execution_options(synchronize_session=False)).first()


def apply_fresh_success(session: Session, core: Core, result: PaymentResult) -> str | None:
    """record_payment_result's common case (see _claim_fresh_success), or None when it is not that."""
    fresh = _claim_fresh_success(session, result)
    if fresh is None:
        return None
    attempt_id, order_id = fresh
    outcome = apply_money_in(session, core, order_id=order_id, attempt_id=attempt_id, receipt=result.receipt,
                             amount=result.amount, channel="stk", noted_here=True)   # the claim wrote it
    if outcome == "duplicate":  # a receipt already recorded elsewhere is money we already hold: not this attempt's
        session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt_id).values(receipt=None))
    return outcome


def _attempt_by_checkout(session: Session, checkout_id: str) -> PaymentAttempt | None:
    return session.scalar(select(PaymentAttempt).where(PaymentAttempt.checkout_request_id == checkout_id))


def link_checkout_id(session: Session, result: PaymentResult) -> tuple[PaymentAttempt | None, str | None]:
    """A callback to attempt N's own URL carries the CheckoutRequestID we may never have recorded
    (the worker died, or the database was down, after Daraja accepted): record it on attempt N, so
    the callback applies and an STK query can settle it. Trusted no more than a callback found by
    its checkout id: only an attempt that may have reached Daraja and has no checkout id yet takes
    it; any other disagreement is a finding. Returns (attempt or None, problem or None)."""
    attempt = session.get(PaymentAttempt, result.attempt_id) if 0 < result.attempt_id < 2 ** 31 else None
    if attempt is None:
        return None, None
    if attempt.checkout_request_id == result.checkout_id:
        return attempt, None
    problem = _link_problem(session, result, attempt)
    if problem:
        _record_conflict(session, result, attempt, problem)
        return None, problem
    session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt.id,
                                                 PaymentAttempt.checkout_request_id.is_(None))
                    .values(checkout_request_id=result.checkout_id, updated_at=utcnow()))
    session.refresh(attempt)
    if attempt.checkout_request_id != result.checkout_id:  # another callback linked it first
        return _attempt_by_checkout(session, result.checkout_id), None
    log.warning("attempt %s: checkout id %s recorded from its callback", attempt.id, result.checkout_id)
    return attempt, None


def _link_problem(session: Session, result: PaymentResult, attempt: PaymentAttempt) -> str | None:
    if not 0 < len(result.checkout_id or "") <= MAX_CHECKOUT_ID:
        return "unusable checkout id"
    owner = _attempt_by_checkout(session, result.checkout_id)
    if owner is not None:
        return f"{result.checkout_id} belongs to attempt {owner.id}"
    if attempt.checkout_request_id:
        return f"attempt {attempt.id} already has {attempt.checkout_request_id}"
    if attempt.status not in ("sending", "unknown"):  # 'sent' has its id; anything else never left
        return f"attempt {attempt.id} is {attempt.status}: it never reached M-Pesa"
    return None


def _record_conflict(session: Session, result: PaymentResult, attempt: PaymentAttempt, problem: str) -> None:
    record_finding(session, f"stk-callback-conflict:{attempt.id}", order_id=attempt.order_id,
                   summary=f"an STK callback for attempt {result.attempt_id} ("
                           f"{'success' if result.succeeded else 'failure'}, receipt {result.receipt}) "
                           f"was not applied: {problem}",
                   checkout_id=str(result.checkout_id)[:80], attempt_id=result.attempt_id)


def _record_failed_attempt(session: Session, attempt: PaymentAttempt, result: PaymentResult,
                           core: Core | None = None) -> str:
    won = session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.id == attempt.id, PaymentAttempt.status.in_(("queued", "sending", "sent", "unknown")))
        .values(status="failed", result_code=result.result_code, result_desc=result.description[:200],
                updated_at=utcnow())).rowcount
    if won and core is not None:
        tell_buyer_payment_failed(session, core, attempt.order_id, result.result_code)
    return "failed" if won else "duplicate"


# --- failed STK results: tell the buyer why, and how to pay another way ---------------------
# Daraja's STK ResultCode -> the catalog's plain reason (sms.stk_reason.<slug>).
STK_FAILURE_REASONS = {
    "1032": "cancelled", "1037": "unreachable", "1": "insufficient_funds", "2001": "wrong_pin",
    "1001": "busy", "17": "too_soon", "1019": "expired",
}
QUERY_RECEIPT_PREFIX = "QRY-"  # receipts we minted for a success known only from an STK query


def failure_reason_key(result_code: str | None) -> str:
    return f"sms.stk_reason.{STK_FAILURE_REASONS.get(str(result_code), 'other')}"


def tell_buyer_payment_failed(session: Session, core: Core, order_id: int, result_code: str | None) -> None:
    """Queue sms.payment_failed in the caller's transaction, only while the order can still be paid
    (a failure after the order was funded, expired or cancelled is not news to the buyer)."""
    from escrow.catalog import render
    from escrow.notify import language_of, queue_sms

    order = session.get(Order, order_id)
    if order is None or order.state != State.AWAITING_PAYMENT.value:
        return
    phone = buyer_phone(core, order)
    reason = render(language_of(session, core, phone), failure_reason_key(result_code))
    queue_sms(session, core, phone=phone, kind="payment_failed", order_id=order.id, ref=order.reference,
              reason=reason, paybill=core.paybill, ussd_code=core.ussd_code, item=order.item)


def _note_real_receipt(session: Session, attempt: PaymentAttempt, result: PaymentResult) -> None:
    """A callback for an attempt we funded from an STK query alone: keep M-Pesa's own receipt on the
    attempt (for statement matching). Money and ledger are untouched: it is a duplicate."""
    if not (result.succeeded and result.receipt and (attempt.receipt or "").startswith(QUERY_RECEIPT_PREFIX)):
        return
    if result.amount != attempt.amount:  # funded for what we asked; the callback says otherwise
        record_finding(session, f"stk-callback-amount-after-query:{attempt.id}", order_id=attempt.order_id,
                       summary=f"attempt {attempt.checkout_request_id} was funded by STK query for KES "
                               f"{attempt.amount:,}; its late callback says KES {result.amount} "
                               f"(receipt {result.receipt})", checkout_id=attempt.checkout_request_id)
    session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt.id,
                                                 PaymentAttempt.receipt == attempt.receipt)
                    .values(receipt=result.receipt,
                            result_desc=f"funded by query as {attempt.receipt}; receipt {result.receipt}"[:200],
                            updated_at=utcnow()))
