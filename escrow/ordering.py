"""Creating orders and asking the buyer to pay for them."""
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow import outbox
from escrow.context import Core
from escrow.db import insert_once, insert_row, utcnow
from escrow.errors import EscrowError, NotAllowed
from escrow.fees import quote
from escrow.models import Order, OrderEvent, PaymentAttempt
from escrow.phone import normalize_msisdn
from escrow.reference import new_reference
from escrow.states import State
from escrow.text import clean_item


def create_order(session: Session, core: Core, *, buyer: str, seller: str, price: int, item: str,
                 initiated_by: str = "buyer") -> Order:
    """A new order awaiting payment, and (buyer-initiated) the STK push to send once the USSD
    session has ended — both in the caller's transaction."""
    buyer, seller = normalize_msisdn(buyer), normalize_msisdn(seller)
    if buyer == seller:
        raise NotAllowed("buyer and seller must be different numbers")
    terms = quote(price, core.settings)
    now = session.scalar(select(utcnow()))
    order_id = _insert_order(session, core, buyer=buyer, seller=seller, item=clean_item(item, core.settings),
                             terms=terms, initiated_by=initiated_by,
                             pay_by=now + timedelta(seconds=core.settings.unpaid_ttl_seconds))
    session.add(OrderEvent(order_id=order_id, event="order_created", from_state=None,
                           to_state=State.AWAITING_PAYMENT.value, actor=initiated_by))
    order = session.get(Order, order_id)
    queue_payment_request(session, core, order, delay_seconds=core.settings.stk_delay_seconds)
    return order


def queue_payment_request(session: Session, core: Core, order: Order, *, delay_seconds: int) -> int:
    """Record an STK push attempt (our own key, before Daraja is ever called) and its outbox row."""
    attempt_id = insert_row(session, PaymentAttempt, order_id=order.id, amount=order.charge, status="queued")
    now = session.scalar(select(utcnow()))
    outbox.enqueue(session, outbox.STK_PUSH, attempt_id, due_at=now + timedelta(seconds=delay_seconds))
    return attempt_id


def _insert_order(session: Session, core: Core, *, buyer, seller, item, terms, initiated_by, pay_by) -> int:
    """Insert with a fresh random reference; a clash with an existing one just draws again."""
    values = dict(state=State.AWAITING_PAYMENT.value, initiated_by=initiated_by,
                  buyer_key=core.vault.phone_key(buyer), buyer_sealed=core.vault.seal(buyer),
                  seller_key=core.vault.phone_key(seller), seller_sealed=core.vault.seal(seller),
                  item=item, price=terms.price, fee=terms.fee, fee_payer=terms.fee_payer,
                  charge=terms.charge, payout=terms.payout, pay_by=pay_by)
    for _ in range(10):
        reference = new_reference()
        if insert_once(session, Order, reference=reference, **values):
            return session.scalar(select(Order.id).where(Order.reference == reference))
    raise EscrowError("could not draw a free order reference")
