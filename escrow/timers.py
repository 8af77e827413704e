"""Deadlines, judged on the database's clock; each fires at most once, whatever the number of workers.

An unpaid order whose pay-by time passed expires, unless a push for it may have reached M-Pesa: then
it waits in checking_payment until that is settled (escrow.checking).

On PostgreSQL the due rows are locked with FOR UPDATE SKIP LOCKED; on both databases the
transition is a compare-and-swap, so a second worker that sees the same row changes nothing."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.checking import due_checks, flag_long_checks, hold_for_checking, payment_in_doubt, settle_checking
from escrow.context import Core
from escrow.db import Database, utcnow
from escrow.delivery import release_funds
from escrow.lifecycle import details, refund_in_full
from escrow.models import Order
from escrow.notify import queue_sms
from escrow.orders import buyer_phone, seller_phone, transition
from escrow.states import Event, State

BATCH = 50


def run_timers(db: Database, core: Core) -> int:
    """Fire every deadline that has passed; returns how many orders moved."""
    fired = 0
    for state, column, fire in TIMERS:
        with db.transaction() as session:
            for order in _due(session, state, column):
                fired += fire(session, core, order)
    with db.transaction() as session:
        for order in due_checks(session):
            fired += expire_checked(session, core, order)
        flag_long_checks(session, core)
    return fired


def _due(session: Session, state: State, column) -> list[Order]:
    query = (select(Order).where(Order.state == state.value, column.is_not(None), column < utcnow())
             .order_by(Order.id).limit(BATCH))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def expire_unpaid(session: Session, core: Core, order: Order) -> int:
    if payment_in_doubt(session, order.id):
        return hold_for_checking(session, order)
    if not transition(session, order, Event.PAYMENT_EXPIRED, actor="system", reason="not paid in time"):
        return 0
    queue_sms(session, core, phone=buyer_phone(core, order), kind="order_expired", order_id=order.id, **details(order))
    return 1


def expire_checked(session: Session, core: Core, order: Order) -> int:
    if not settle_checking(session, core, order):
        return 0
    queue_sms(session, core, phone=buyer_phone(core, order), kind="order_expired", order_id=order.id, **details(order))
    return 1


def expire_request(session: Session, core: Core, order: Order) -> int:
    return int(transition(session, order, Event.REQUEST_EXPIRED, actor="system", reason="not accepted in time"))


def refund_undispatched(session: Session, core: Core, order: Order) -> int:
    if not transition(session, order, Event.DISPATCH_DEADLINE_PASSED, actor="system", reason="never dispatched"):
        return 0
    refund_in_full(session, core, order, why="not dispatched by the deadline",
                   buyer_kind="refund_not_dispatched")
    queue_sms(session, core, phone=seller_phone(core, order), kind="order_cancelled", order_id=order.id,
              **details(order))
    return 1


def release_after_inspection(session: Session, core: Core, order: Order) -> int:
    if not transition(session, order, Event.INSPECTION_WINDOW_PASSED, actor="system",
                      reason="buyer neither confirmed nor disputed"):
        return 0
    release_funds(session, core, order)
    return 1


TIMERS = (
    (State.AWAITING_PAYMENT, Order.pay_by, expire_unpaid),
    (State.REQUESTED, Order.pay_by, expire_request),
    (State.FUNDED, Order.dispatch_by, refund_undispatched),
    (State.DISPATCHED, Order.release_at, release_after_inspection),
)
