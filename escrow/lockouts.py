"""Delivery-code lockouts an operator may lift (issue 15): callers stopped for a day of wrong codes
(escrow.delivery, MAX_WRONG_PER_CALLER_PER_DAY) and open orders whose code locked after too many misses.

An unlock is a row of `code_unlocks` (append-only in use): the caller's misses before it stop counting;
an order's unlock also clears its per-code count (its lifetime count stays, so the guessing bound only
moves by what an operator, named and audited, allows)."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from escrow.db import db_now, insert_row
from escrow.errors import EscrowError
from escrow.models import CodeAttempt, Order
from escrow.ops_models import CodeUnlock
from escrow.states import OPEN_FOR_DELIVERY

DAY = timedelta(days=1)


@dataclass(frozen=True)
class LockedCaller:
    caller_key: str
    misses: int
    last_miss: datetime
    sealed_number: str | None     # from one of their orders, for a masked display
    orders: tuple                 # references of their open orders


@dataclass(frozen=True)
class LockedOrder:
    reference: str
    state: str
    failures: int
    failures_total: int
    updated_at: datetime


def misses_since(caller_key: str, day_ago):
    """The condition selecting a caller's misses that count now: the last day, after their last unlock
    (a scalar subquery, so the check stays one statement)."""
    unlocked = (select(func.max(CodeUnlock.at)).where(CodeUnlock.caller_key == caller_key,
                                                      CodeUnlock.order_id.is_(None)).scalar_subquery())
    return (CodeAttempt.caller_key == caller_key, CodeAttempt.succeeded.is_(False), CodeAttempt.at > day_ago,
            CodeAttempt.at > func.coalesce(unlocked, day_ago))


def locked_callers(session: Session, *, limit: int = 200) -> list[LockedCaller]:
    from escrow.delivery import MAX_WRONG_PER_CALLER_PER_DAY

    day_ago = db_now(session) - DAY
    unlocked = (select(CodeUnlock.caller_key, func.max(CodeUnlock.at).label("at"))
                .where(CodeUnlock.order_id.is_(None), CodeUnlock.at > day_ago)
                .group_by(CodeUnlock.caller_key).subquery())
    rows = session.execute(
        select(CodeAttempt.caller_key, func.count(), func.max(CodeAttempt.at))
        .outerjoin(unlocked, unlocked.c.caller_key == CodeAttempt.caller_key)
        .where(CodeAttempt.succeeded.is_(False), CodeAttempt.at > day_ago,
               (unlocked.c.at.is_(None)) | (CodeAttempt.at > unlocked.c.at))
        .group_by(CodeAttempt.caller_key).having(func.count() >= MAX_WRONG_PER_CALLER_PER_DAY)
        .order_by(func.max(CodeAttempt.at).desc()).limit(limit)).all()
    found = []
    for caller_key, misses, last in rows:
        orders = list(session.scalars(select(Order).where((Order.buyer_key == caller_key)
                                                          | (Order.seller_key == caller_key))
                                      .order_by(Order.id.desc()).limit(20)))
        sealed = next((o.buyer_sealed if o.buyer_key == caller_key else o.seller_sealed for o in orders), None)
        open_ones = tuple(o.reference for o in orders if o.state in {s.value for s in OPEN_FOR_DELIVERY})
        found.append(LockedCaller(caller_key, misses, last, sealed, open_ones))
    return found


def locked_orders(session: Session, *, limit: int = 200) -> list[LockedOrder]:
    states = [state.value for state in OPEN_FOR_DELIVERY]
    return [LockedOrder(o.reference, o.state, o.code_failures, o.code_failures_total, o.updated_at)
            for o in session.scalars(select(Order).where(Order.code_locked, Order.state.in_(states))   # partial index
                                     .order_by(Order.updated_at.desc()).limit(limit))]


def unlock_caller(session: Session, caller_key: str, operator: str) -> int:
    """Let a caller enter codes again today; refuses one that is not locked."""
    if not any(caller.caller_key == caller_key for caller in locked_callers(session)):
        raise EscrowError("that number is not locked out (nothing was done)")
    return insert_row(session, CodeUnlock, caller_key=caller_key, order_id=None, operator=operator[:40])


def unlock_order(session: Session, reference: str, operator: str) -> Order:
    """Let an open order's current code be entered again; refuses one that is not locked."""
    states = [state.value for state in OPEN_FOR_DELIVERY]
    order = session.scalar(select(Order).where(Order.reference == reference))
    won = order is not None and session.execute(
        update(Order).where(Order.id == order.id, Order.code_locked.is_(True), Order.state.in_(states))
        .values(code_locked=False, code_failures=0)).rowcount
    if not won:
        raise EscrowError(f"order {reference[:12]}'s code is not locked (nothing was done)")
    insert_row(session, CodeUnlock, caller_key=order.buyer_key, order_id=order.id, operator=operator[:40])
    return order
