"""Creating orders and asking the buyer to pay for them."""
from datetime import timedelta

from sqlalchemy.orm import Session

from escrow import outbox
from escrow.context import Core
from escrow.db import db_now, insert_new_object
from escrow.errors import EscrowError, NotAllowed
from escrow.fees import quote
from escrow.limits import check_order_limits
from escrow.reminders import schedule_reminder
from escrow.models import Order, OrderEvent, PaymentAttempt
from escrow.payment_links import link_request
from escrow.phone import normalize_msisdn
from escrow.reference import new_reference
from escrow.states import State
from escrow.text import clean_item
from escrow.writes import insert_at_commit, insert_values, write_at_commit


def create_order(session: Session, core: Core, *, buyer: str, seller: str, price: int, item: str,
                 prompt: bool = True) -> Order:
    """A buyer's order, awaiting payment, with the STK push to send once the USSD session has
    ended — both in the caller's transaction. `prompt=False`: the buyer's line is not on M-Pesa (no
    prompt can reach it), they pay by Paybill from an M-Pesa line, and no push is sent to fail."""
    order = _new_order(session, core, buyer=buyer, seller=seller, price=price, item=item, initiated_by="buyer",
                       state=State.AWAITING_PAYMENT, ttl=core.settings.unpaid_ttl_seconds)
    if prompt:
        queue_payment_request(session, core, order, delay_seconds=core.settings.stk_delay_seconds)
    return order


def request_payment(session: Session, core: Core, *, seller: str, buyer: str, price: int, item: str,
                    share_link: bool = False) -> tuple[Order, str]:
    """A seller asks a buyer's number to pay; the buyer is told by SMS (with the pay link when it fits)
    and accepts or declines. Returns the order and its payment link's token (escrow/payment_links.py);
    `share_link` also sends the seller the link to share."""
    order = _new_order(session, core, buyer=buyer, seller=seller, price=price, item=item, initiated_by="seller",
                       state=State.REQUESTED, ttl=core.settings.request_ttl_seconds)
    token = link_request(session, core, order, buyer=normalize_msisdn(buyer), seller=normalize_msisdn(seller),
                         share_with_seller=share_link)
    return order, token


def _new_order(session: Session, core: Core, *, buyer, seller, price, item, initiated_by, state: State, ttl) -> Order:
    buyer, seller = normalize_msisdn(buyer), normalize_msisdn(seller)
    if buyer == seller:
        raise NotAllowed("buyer and seller must be different numbers")
    terms = quote(price, core.settings)
    creator = buyer if initiated_by == "buyer" else seller
    check_order_limits(session, core, creator_key=core.vault.phone_key(creator),
                       buyer_key=core.vault.phone_key(buyer), charge=terms.charge,
                       pushes_too=state is State.AWAITING_PAYMENT)   # a buyer's order pushes at once
    pay_by = db_now(session) + timedelta(seconds=ttl)
    order = _insert_order(session, core, buyer=buyer, seller=seller, item=clean_item(item, core.settings),
                          terms=terms, initiated_by=initiated_by, state=state, pay_by=pay_by)
    insert_at_commit(session, OrderEvent, order_id=order.id, event="order_created", from_state=None,
                     to_state=state.value, actor=initiated_by, reason=None)
    if state is State.AWAITING_PAYMENT:
        schedule_reminder(session, core, order, "pay", pay_by)
    return order


def queue_payment_request(session: Session, core: Core, order: Order, *, delay_seconds: int) -> None:
    """Record an STK push attempt (our own key, before Daraja is ever called) and its outbox row, both
    written at commit with the unit of work's other waiting writes (escrow/writes.py)."""
    due_at = db_now(session) + timedelta(seconds=delay_seconds)
    write_at_commit(session, insert_values(PaymentAttempt, order_id=order.id, amount=order.charge,
                                           status="queued").returning(PaymentAttempt.id),
                    then=outbox.for_each_new(outbox.STK_PUSH, due_at=due_at))


def _insert_order(session: Session, core: Core, *, buyer, seller, item, terms, initiated_by, state, pay_by) -> Order:
    """Insert with a fresh random reference; a clash with an existing one just draws again."""
    values = dict(state=state.value, initiated_by=initiated_by,
                  buyer_key=core.vault.phone_key(buyer), buyer_sealed=core.vault.seal(buyer),
                  seller_key=core.vault.phone_key(seller), seller_sealed=core.vault.seal(seller),
                  item=item, price=terms.price, fee=terms.fee, fee_payer=terms.fee_payer,
                  charge=terms.charge, payout=terms.payout, pay_by=pay_by)
    for _ in range(10):
        reference = new_reference()
        order = insert_new_object(session, Order, reference=reference, **values)
        if order is not None:
            return order
    raise EscrowError("could not draw a free order reference")
