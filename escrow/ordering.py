"""Creating orders and asking the buyer to pay for them."""
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import DateTime, bindparam, insert, literal, select
from sqlalchemy.orm import Session

from escrow import outbox, quick
from escrow.context import Core
from escrow.db import db_now
from escrow.errors import EscrowError, NotAllowed
from escrow.fees import quote
from escrow.limits import check_order_limits, count_order_limits
from escrow.reminders import KINDS as REMINDER_KINDS, SUBJECT_BITS as REMINDER_SUBJECT_BITS
from escrow.models import Order, OrderEvent, PaymentAttempt
from escrow.payment_links import link_request
from escrow.phone import normalize_msisdn
from escrow.reference import new_reference
from escrow.states import State
from escrow.text import clean_item
from escrow.writes import InsertWith, Then, insert_once_statement, insert_values, write_at_commit


def create_order(session: Session, core: Core, *, buyer: str, seller: str, price: int, item: str,
                 prompt: bool = True) -> Order:
    """A buyer's order, awaiting payment, with the STK push to send once the USSD session has
    ended — both in the caller's transaction. `prompt=False`: the buyer's line is not on M-Pesa (no
    prompt can reach it), they pay by Paybill from an M-Pesa line, and no push is sent to fail."""
    return _new_order(session, core, buyer=buyer, seller=seller, price=price, item=item, initiated_by="buyer",
                      state=State.AWAITING_PAYMENT, ttl=core.settings.unpaid_ttl_seconds, prompt=prompt)


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


def create_order_at_once(db, core: Core, *, buyer: str, seller: str, price: int, item: str,
                         prompt: bool = True) -> Order:
    """create_order in a unit of work of its own whose statements go straight to the database driver
    (escrow/quick.py: the USSD confirm hop's CPU): the same lock, limits SELECT and one INSERT, the
    same transaction. The order comes back in no session, for reading."""
    draft = _Draft.of(core, buyer=buyer, seller=seller, price=price, item=item, initiated_by="buyer",
                      state=State.AWAITING_PAYMENT, ttl=core.settings.unpaid_ttl_seconds, prompt=prompt)
    with quick.unit(db) as unit:
        now = count_order_limits(unit, core, db.dialect, **draft.limits())
        return draft.write(db.dialect, now, lambda writes, values: writes.run_at_once(unit, values))


def _new_order(session: Session, core: Core, *, buyer, seller, price, item, initiated_by, state: State, ttl,
               prompt: bool = False) -> Order:
    """The limits checked (one SELECT after the numbers' lock), then the order and everything that
    follows from it written in ONE statement (`_order_writes`)."""
    draft = _Draft.of(core, buyer=buyer, seller=seller, price=price, item=item, initiated_by=initiated_by,
                      state=state, ttl=ttl, prompt=prompt)
    check_order_limits(session, core, **draft.limits())
    return draft.write(session.get_bind().dialect.name, db_now(session),   # the clock came with the limits
                       lambda writes, values: writes.run(session, values))


@dataclass(frozen=True)
class _Draft:
    """A new order's checked terms, before the database has a say (its limits, its clock)."""
    core: Core
    buyer: str
    seller: str
    buyer_key: str
    seller_key: str
    terms: object
    item: str
    initiated_by: str
    state: State
    ttl: int
    push: bool

    @classmethod
    def of(cls, core: Core, *, buyer, seller, price, item, initiated_by, state: State, ttl, prompt) -> "_Draft":
        buyer, seller = normalize_msisdn(buyer), normalize_msisdn(seller)
        if buyer == seller:
            raise NotAllowed("buyer and seller must be different numbers")
        vault = core.vault
        return cls(core, buyer, seller, vault.phone_key(buyer), vault.phone_key(seller), quote(price, core.settings),
                   item, initiated_by, state, ttl, prompt and state is State.AWAITING_PAYMENT)

    def limits(self) -> dict:
        """check_order_limits' arguments: a buyer's order counts against the buyer and pushes at once."""
        creator_key = self.buyer_key if self.initiated_by == "buyer" else self.seller_key
        return dict(creator_key=creator_key, buyer_key=self.buyer_key, charge=self.terms.charge,
                    pushes_too=self.state is State.AWAITING_PAYMENT)

    def write(self, dialect_name: str, now, run) -> Order:
        """The order and what follows from it (`run(writes, values)` sends them), a fresh reference drawn
        while one clashes with an existing order's."""
        core, terms, settings = self.core, self.terms, self.core.settings
        vault = core.vault
        pay_by = now + timedelta(seconds=self.ttl)
        values = dict(state=self.state.value, initiated_by=self.initiated_by,
                      buyer_key=self.buyer_key, buyer_sealed=vault.seal(self.buyer),
                      seller_key=self.seller_key, seller_sealed=vault.seal(self.seller),
                      item=clean_item(self.item, settings), price=terms.price, fee=terms.fee,
                      fee_payer=terms.fee_payer, charge=terms.charge, payout=terms.payout, pay_by=pay_by,
                      remind_at=pay_by - timedelta(seconds=settings.pay_reminder_lead_seconds),
                      push_at=now + timedelta(seconds=settings.stk_delay_seconds))
        writes = _order_writes(dialect_name, self.state, self.initiated_by, self.push)
        for _ in range(10):   # a clash with an existing reference writes nothing: draw again
            new = run(writes, {**values, "reference": new_reference()})
            if new:
                return new[0]
        raise EscrowError("could not draw a free order reference")


@lru_cache(maxsize=None)
def _order_writes(dialect_name: str, state: State, actor: str, push: bool) -> InsertWith:
    """The new order (its values given at each run) and what follows from it, as one statement:
    its event; awaiting payment, the reminder to pay; with `push`, the STK push attempt for its
    charge (our own key, before Daraja is ever called) and the outbox row that sends it."""
    orders = Order.__table__
    order = insert_once_statement(dialect_name, Order, **{name: bindparam(name, type_=orders.c[name].type)
                                                          for name in _ORDER_VALUES})
    follows = [_event("order_created", state, actor=actor)]
    if state is State.AWAITING_PAYMENT:
        follows.append(_reminder("pay", due_at=bindparam("remind_at", type_=DateTime())))
    if push:
        follows.append(_payment_attempt(due_at=bindparam("push_at", type_=DateTime())))
    return InsertWith(order.returning(*orders.c), *follows, entity=Order)


_ORDER_VALUES = ("reference", "state", "initiated_by", "buyer_key", "buyer_sealed", "seller_key", "seller_sealed",
                 "item", "price", "fee", "fee_payer", "charge", "payout", "pay_by")


def queue_payment_request(session: Session, core: Core, order: Order, *, delay_seconds: int) -> None:
    """Record an STK push attempt (our own key, before Daraja is ever called) and its outbox row, both
    written at commit with the unit of work's other waiting writes (escrow/writes.py)."""
    due_at = db_now(session) + timedelta(seconds=delay_seconds)
    write_at_commit(session, insert_values(PaymentAttempt, order_id=order.id, amount=order.charge,
                                           status="queued").returning(PaymentAttempt.id),
                    then=outbox.for_each_new(outbox.STK_PUSH, due_at=due_at))


# What follows a new order, built on its new row (`new`: escrow/writes.py Then) -----------------------
def _event(event: str, state: State, *, actor: str) -> Then:
    columns = OrderEvent.__table__.c
    return Then(OrderEvent.__table__, lambda new: insert(OrderEvent.__table__).from_select(
        ["order_id", "event", "to_state", "actor"],
        select(new.c.id, literal(event, columns.event.type), literal(state.value, columns.to_state.type),
               literal(actor, columns.actor.type))))


def _reminder(kind: str, due_at) -> Then:
    """escrow/reminders.py's outbox row for the new order: its subject packs (order id, kind)."""
    index = REMINDER_KINDS.index(kind)
    return outbox.for_each_new(outbox.REMINDER, due_at=due_at,
                               subject=lambda new: new.c.id * (1 << REMINDER_SUBJECT_BITS) + index)


def _payment_attempt(*, due_at) -> Then:
    """The STK push attempt for the new order's charge (our own key, before Daraja is ever called),
    and the outbox row that sends it."""
    status = PaymentAttempt.__table__.c.status
    return Then(PaymentAttempt.__table__, lambda new: insert(PaymentAttempt.__table__).from_select(
        ["order_id", "amount", "status"], select(new.c.id, new.c.charge, literal("queued", status.type)))
        .returning(PaymentAttempt.__table__.c.id), then=outbox.for_each_new(outbox.STK_PUSH, due_at=due_at))
