"""Per-number limits, counted in the database (so losing Redis never lifts them)."""
from sqlalchemy import func, literal, select, text
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.db import ago, remember_now, utcnow
from escrow.errors import LimitExceeded
from escrow.models import Order, PaymentAttempt

NOT_COUNTED = ("expired", "cancelled", "declined")
HOUR, DAY = 3600, 86400


def check_order_limits(session: Session, core: Core, *, creator_key: str, buyer_key: str, charge: int,
                       pushes_too: bool = False, lock: bool = True) -> None:
    """Orders per number per hour (whoever creates them) and the buyer's daily total, and with
    `pushes_too` the buyer's STK pushes per hour: one SELECT, which also reads the database's clock
    for the rest of the unit of work. `lock=False`: a look only (a menu's first screen), nothing is written."""
    settings = core.settings
    if lock:
        one_number_at_a_time(session, creator_key, buyer_key)
    created = (select(func.count()).select_from(Order)
               .where((Order.buyer_key == creator_key) | (Order.seller_key == creator_key),
                      Order.created_at > ago(HOUR)).scalar_subquery())
    spent = (select(func.coalesce(func.sum(Order.charge), 0))
             .where(Order.buyer_key == buyer_key, Order.created_at > ago(DAY), Order.state.not_in(NOT_COUNTED))
             .scalar_subquery())
    pushes = _pushes_in_the_last_hour(buyer_key).scalar_subquery() if pushes_too else literal(0)
    now, created, spent, pushes = session.execute(select(utcnow(), created, spent, pushes)).one()
    remember_now(session, now)
    if created >= settings.orders_per_hour:
        raise LimitExceeded("orders_per_hour", settings.orders_per_hour)
    if spent + charge > settings.daily_total_per_buyer:
        raise LimitExceeded("daily_total_per_buyer", settings.daily_total_per_buyer)
    if pushes_too and pushes >= settings.stk_pushes_per_hour:
        raise LimitExceeded("stk_pushes_per_hour", settings.stk_pushes_per_hour)


def _pushes_in_the_last_hour(buyer_key: str):
    return (select(func.count()).select_from(PaymentAttempt).join(Order)
            .where(Order.buyer_key == buyer_key, PaymentAttempt.created_at > ago(HOUR)))


def check_push_limit(session: Session, core: Core, buyer_key: str) -> None:
    """STK pushes to one number per hour: prompt spam is a fraud vector (reliability.md X9)."""
    limit = core.settings.stk_pushes_per_hour
    one_number_at_a_time(session, buyer_key)
    if session.scalar(_pushes_in_the_last_hour(buyer_key)) >= limit:
        raise LimitExceeded("stk_pushes_per_hour", limit)


def one_number_at_a_time(session: Session, *keys: str) -> None:
    """Counting then writing is a race: two orders for one number made at once each count the other
    as not there yet, and both pass a limit only one of them may. On PostgreSQL the numbers' limits
    are checked in turn (a transaction-scoped advisory lock per number, taken in a fixed order, so
    two numbers' locks never deadlock); SQLite already has one writer at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return
    names = [f"zemi:limits:{key}" for key in sorted({key for key in keys if key})]
    locks = ", ".join(f"pg_advisory_xact_lock(hashtext(:k{i}))" for i in range(len(names)))   # one round trip
    session.execute(text(f"SELECT {locks}"), {f"k{i}": name for i, name in enumerate(names)})
