"""Orders whose payment is being checked (issue 11, finding 1).

An STK push that may have reached M-Pesa (attempt 'sending', 'sent' or 'unknown', with or without a
checkout id) is never forgotten: its callback (found by checkout id or by the attempt id in its
URL), an STK query once its checkout id is known, or M-Pesa's statement settles it. When the
pay-by time passes while such an attempt is open, the order does not expire: it moves to
`checking_payment` ("payment being checked"), where money in still funds it. It expires only when
every such attempt has settled unpaid, or when the statement has completely covered the time its
money would have moved (PUSH_SETTLES_WITHIN after the attempt was created) without a payment for
it: then with a finding that gives the buyer's masked number and the amount. An attempt an STK
query said was paid, whose funding waits for the statement because a paybill payment may quote its
receipt ('stk-paid-held-for-statement', escrow/reconcile.py), is never expired as unpaid while that
finding is open: the statement funds it (its line for the receipt names this order), or a person
settles it (the order is named 'stk-still-checking' a day after pay-by). Likewise an order named by a
paybill payment held for the statement ('paybill-held-for-statement', escrow/confirmation.py) waits
in `checking_payment` instead of expiring, until the statement's next run has settled that payment.
"""
import json
from datetime import timedelta

from sqlalchemy import String, cast, exists, literal, select, update
from sqlalchemy.orm import Session

from escrow.confirmation import HELD_FOR_STATEMENT
from escrow.context import Core
from escrow.db import db_now, utcnow
from escrow.findings import FINDING, record_finding
from escrow.models import InboundCallback, Order, PaymentAttempt
from escrow.orders import buyer_phone, transition
from escrow.payments import IN_DOUBT
from escrow.phone import mask
from escrow.statement.runs import covered_until, covers
from escrow.states import Event, State

# An STK prompt lives about two minutes on the phone; the push itself may wait in the outbox for
# its retries (minutes). Money for an attempt moves within this long of its creation, or not at all.
PUSH_SETTLES_WITHIN = timedelta(hours=1)
# Still checking this long after pay-by: the statement is not covering (not set up, or failing),
# and an operator should look. Told once per order.
CHECKING_TOO_LONG = timedelta(hours=24)
STILL_CHECKING = "stk-still-checking"
STK_HELD_FOR_STATEMENT = "stk-paid-held-for-statement"   # recorded by escrow.reconcile
BATCH = 50


def payment_in_doubt(session: Session, order_id: int) -> bool:
    """Whether a push for this order may have reached M-Pesa and is not settled yet, or a paybill
    payment for it waits for the statement."""
    return bool(session.scalar(select(exists().where(PaymentAttempt.order_id == order_id,
                                                      PaymentAttempt.status.in_(IN_DOUBT))))) or \
        paybill_held_for(session, order_id)


def paybill_held_for(session: Session, order_id: int) -> bool:
    """Whether a paybill payment naming this order, confirmed by Transaction Status, is held for the
    statement (it may quote another order's receipt: escrow/confirmation.py; its finding is open). The
    statement settles it at its next run: the order must not expire before."""
    reference = session.scalar(select(Order.reference).where(Order.id == order_id))
    return bool(reference and session.scalar(select(InboundCallback.id).where(
        InboundCallback.source == FINDING, InboundCallback.status == "open",
        InboundCallback.dedupe_key.like(f"{FINDING}:{HELD_FOR_STATEMENT}:%"),
        InboundCallback.body.contains(json.dumps({"order": reference})[1:-1])).limit(1)))


def hold_for_checking(session: Session, order: Order) -> int:
    """The pay-by time passed while a push is in doubt: wait for it instead of expiring."""
    return int(transition(session, order, Event.PAYMENT_IN_DOUBT, actor="system",
                          reason="pay-by time passed while a payment request may have reached M-Pesa"))


def due_checks(session: Session) -> list[Order]:
    """Orders being checked that can now be decided: nothing in doubt any more, or every attempt in
    doubt old enough for the statement's coverage to speak for it."""
    if not session.scalar(select(exists().where(Order.state == State.CHECKING_PAYMENT.value))):
        return []   # the usual case, on an indexed column: no need to read the statement's coverage
    open_attempt = exists().where(PaymentAttempt.order_id == Order.id, PaymentAttempt.status.in_(IN_DOUBT))
    decidable = ~open_attempt
    covered = covered_until(session)
    if covered is not None:
        uncovered = exists().where(PaymentAttempt.order_id == Order.id, PaymentAttempt.status.in_(IN_DOUBT),
                                   PaymentAttempt.created_at > covered - PUSH_SETTLES_WITHIN)
        decidable = decidable | ~uncovered
    query = (select(Order).where(Order.state == State.CHECKING_PAYMENT.value, decidable)
             .order_by(Order.id).limit(BATCH))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Order)
    return list(session.scalars(query))


def settle_checking(session: Session, core: Core, order: Order) -> bool:
    """Expire an order being checked once nothing for it can still be paid; False while it must wait."""
    doubtful = list(session.scalars(select(PaymentAttempt).where(PaymentAttempt.order_id == order.id,
                                                                PaymentAttempt.status.in_(IN_DOUBT))))
    if any(not covers(session, attempt.created_at, attempt.created_at + PUSH_SETTLES_WITHIN)
           for attempt in doubtful):
        return False
    if any(paid_but_held(session, attempt.id) for attempt in doubtful):
        return False   # M-Pesa's query said paid: never expired as unpaid (the finding is for a person)
    if paybill_held_for(session, order.id):
        return False   # a paybill payment for it waits for the statement's next run
    if not transition(session, order, Event.PAYMENT_EXPIRED, actor="system",
                      reason="not paid: the statement shows no payment" if doubtful else "not paid in time"):
        return False
    for attempt in doubtful:
        _close_unpaid(session, core, order, attempt)
    return True


def paid_but_held(session: Session, attempt_id: int) -> bool:
    """An STK query said this push was paid, but funding waits for the statement (a paybill payment may
    quote its receipt: escrow.reconcile.paybill_may_have_quoted_it) and its finding is still open."""
    return bool(session.scalar(select(InboundCallback.id).where(
        InboundCallback.dedupe_key == f"{FINDING}:{STK_HELD_FOR_STATEMENT}:{attempt_id}",
        InboundCallback.status == "open")))


def _close_unpaid(session: Session, core: Core, order: Order, attempt: PaymentAttempt) -> None:
    """The statement covered this attempt's time and showed no payment for it."""
    session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt.id,
                                                 PaymentAttempt.status.in_(IN_DOUBT))
                    .values(status="failed", result_code="statement", updated_at=utcnow(),
                            result_desc=f"no payment on the M-Pesa statement (was {attempt.status})"))
    record_finding(session, f"stk-unconfirmed-expired:{attempt.id}", order_id=order.id,
                   summary=f"order {order.reference} expired: STK push {attempt.id} of KES {attempt.amount:,} to "
                           f"{mask(buyer_phone(core, order))} was never confirmed (status {attempt.status}, "
                           f"checkout id {attempt.checkout_request_id or 'never recorded'}) and the statement "
                           f"shows no payment for it; a late callback would still be returned to the buyer",
                   attempt_id=attempt.id, amount=attempt.amount, phone=mask(buyer_phone(core, order)),
                   checkout_id=attempt.checkout_request_id)


def flag_long_checks(session: Session, core: Core) -> int:
    """A finding, once per order, for an order still being checked CHECKING_TOO_LONG after pay-by."""
    told = exists().where(InboundCallback.dedupe_key == literal(f"{FINDING}:{STILL_CHECKING}:")
                          + cast(Order.id, String))
    orders = session.scalars(select(Order).where(
        Order.state == State.CHECKING_PAYMENT.value, Order.pay_by < db_now(session) - CHECKING_TOO_LONG, ~told)
        .order_by(Order.id).limit(BATCH)).all()
    for order in orders:
        record_finding(session, f"{STILL_CHECKING}:{order.id}", order_id=order.id,
                       summary=f"order {order.reference} (KES {order.charge:,} from "
                               f"{mask(buyer_phone(core, order))}) is still 'payment being checked' a day after "
                               f"its pay-by time: M-Pesa's statement has not covered its push. Run `flask reconcile "
                               f"statement` (or import the portal statement with --csv) for that day")
    return len(orders)
