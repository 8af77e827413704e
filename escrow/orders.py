"""Loading orders, moving them through the transition table, and showing them to a party."""
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from escrow.context import Core
from escrow.db import remember_now, utcnow
from escrow.errors import NotAllowed, OrderNotFound
from escrow.models import Order, OrderEvent
from escrow.phone import mask, to_local
from escrow.states import Event, State, next_state
from escrow.views import OrderView
from escrow.writes import insert_at_commit


def transition(session: Session, order: Order, event: Event, *, actor: str, reason: str | None = None,
               also: dict | None = None) -> bool:
    """Move `order` by `event` if its table allows it (else InvalidTransition). `also`: other columns
    to set in the same UPDATE (only if it moves). The event row is written at commit (escrow/writes.py).

    A compare-and-swap on the version column: of two racing transitions exactly one
    returns True; the loser changes nothing and returns False.
    """
    target = next_state(order.state, event)
    columns = Order.__table__.columns
    row = session.execute(
        update(Order).where(Order.id == order.id, Order.version == order.version)
        .values(state=target.value, version=Order.version + 1, updated_at=utcnow(), **(also or {}))
        .returning(*columns).execution_options(synchronize_session=False)).first()
    if row is None:
        return False
    insert_at_commit(session, OrderEvent, order_id=order.id, event=Event(event).value, from_state=order.state,
                     to_state=target.value, actor=actor, reason=reason)
    for column, value in zip(columns, row):   # the whole row as it now stands, without a reload
        set_committed_value(order, column.key, value)
    remember_now(session, order.updated_at)     # utcnow() as written: db_now costs no trip after this
    return True


def order_by_reference(session: Session, reference: str) -> Order:
    order = session.scalar(select(Order).where(Order.reference == (reference or "").strip()))
    if order is None:
        raise OrderNotFound(reference)
    return order


def role_of(order: Order, phone_key: str) -> str:
    """'buyer' or 'seller'; anyone else is refused."""
    if order.buyer_key == phone_key:
        return "buyer"
    if order.seller_key == phone_key:
        return "seller"
    raise NotAllowed("not a party to this order")


def order_of_party(session: Session, core: Core, phone: str, reference: str, *,
                   with_languages: bool = False) -> tuple[Order, str]:
    """The order and the caller's role in it; a stranger gets OrderNotFound, not a hint it exists.
    `with_languages`: the parties' languages come in the same SELECT (for the messages to follow)."""
    if with_languages:
        from escrow.notify import order_with_languages
        order = order_with_languages(session, reference=(reference or "").strip())
        if order is None:
            raise OrderNotFound(reference)
    else:
        order = order_by_reference(session, reference)
    try:
        return order, role_of(order, core.vault.phone_key(phone))
    except NotAllowed:
        raise OrderNotFound(reference) from None


def buyer_phone(core: Core, order: Order) -> str:
    return core.vault.unseal(order.buyer_sealed)


def seller_phone(core: Core, order: Order) -> str:
    return core.vault.unseal(order.seller_sealed)


def view_for(core: Core, order: Order, role: str, counterpart: str | None = None) -> OrderView:
    """`counterpart`: the other party's number when the caller has it in clear (no unsealing)."""
    if counterpart is None:
        counterpart = seller_phone(core, order) if role == "buyer" else buyer_phone(core, order)
    return OrderView(reference=order.reference, state=order.state, item=order.item, price=order.price,
                     fee=order.fee, charge=order.charge, payout=order.payout, role=role,
                     counterpart_masked=mask(counterpart), actions=actions_for(order, role),
                     counterpart=to_local(counterpart), seller_accepted=_seller_acted(order),
                     fee_payer=order.fee_payer)


ALLOWED_ACTIONS = {
    (State.REQUESTED, "buyer"): ("accept", "decline"),
    (State.AWAITING_PAYMENT, "buyer"): ("pay_now", "paybill", "cancel"),
    (State.FUNDED, "buyer"): ("confirm_delivery", "report_problem", "new_code"),
    (State.FUNDED, "seller"): ("confirm_delivery", "mark_dispatched", "cancel"),
    (State.DISPATCHED, "buyer"): ("confirm_delivery", "report_problem", "new_code"),
    (State.DISPATCHED, "seller"): ("confirm_delivery", "cancel"),
}


# a paid order the seller has not yet accepted: the buyer cannot release to them yet (escrow/delivery.py)
NOT_YET_ACCEPTED = {
    "buyer": ("report_problem", "new_code"),
    "seller": ("accept_order", "cancel"),
}


def actions_for(order: Order, role: str) -> tuple[str, ...]:
    """What the viewer may do now, by role and state; the USSD menu offers only these."""
    if order.state == State.FUNDED.value and not _seller_acted(order):
        return NOT_YET_ACCEPTED[role]
    return ALLOWED_ACTIONS.get((State(order.state), role), ())


def seller_has_acted(order: Order) -> bool:
    """The seller asked for this payment, accepted the order or marked it sent, from their own line
    (entering the code is the fourth way, and releases at once)."""
    return (order.initiated_by == "seller" or order.seller_accepted_at is not None
            or order.state == State.DISPATCHED.value)


_seller_acted = seller_has_acted
