"""Per-number limits, counted in the database (so losing Redis never lifts them)."""
from functools import lru_cache

from sqlalchemy import BigInteger, DateTime, Integer, bindparam, column, func, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from escrow import quick
from escrow.context import Core
from escrow.db import ago, remember_now, utcnow
from escrow.errors import LimitExceeded
from escrow.models import Order, PaymentAttempt

NOT_COUNTED = ("expired", "cancelled", "declined")
HOUR, DAY = 3600, 86400


def check_order_limits(session: Session, core: Core, *, creator_key: str, buyer_key: str, charge: int,
                       pushes_too: bool = False) -> None:
    """Orders per number per hour (whoever creates them) and the buyer's daily total, and with
    `pushes_too` the buyer's STK pushes per hour, counted under the numbers' lock: one SELECT, which
    also reads the database's clock for the rest of the unit of work."""
    now = count_order_limits(quick.AlchemyUnit(session), core, session.get_bind().dialect.name,
                             creator_key=creator_key, buyer_key=buyer_key, charge=charge, pushes_too=pushes_too)
    remember_now(session, now)


def look_at_order_limits(db, core: Core, *, creator_key: str, buyer_key: str, charge: int,
                         pushes_too: bool = False) -> None:
    """check_order_limits' counts, judged the same way, as a look only (a menu's first screen): one
    statement outside any transaction (nothing is written, nothing else is read), compiled once per
    dialect and shape and sent straight to the driver (escrow/quick.py). Advisory: create_order counts
    again under its lock."""
    _, created, spent, pushes = quick.lone(db, _look_prepared(db.dialect, pushes_too),
                                           {"creator": creator_key, "buyer": buyer_key})
    judge_limits(core, created, spent, pushes, charge=charge, pushes_too=pushes_too)


def count_order_limits(unit, core: Core, dialect_name: str, *, creator_key: str, buyer_key: str, charge: int,
                       pushes_too: bool = False):
    """The limits counted and judged in a unit of work (a quick unit, escrow/quick.py, or an ORM
    session through quick.AlchemyUnit): the numbers' lock, then the one SELECT; returns the
    database's clock."""
    _lock_numbers(unit, dialect_name, creator_key, buyer_key)
    now, created, spent, pushes = unit.first(_look_prepared(dialect_name, pushes_too),
                                             {"creator": creator_key, "buyer": buyer_key})
    judge_limits(core, created, spent, pushes, charge=charge, pushes_too=pushes_too)
    return now


@lru_cache(maxsize=8)
def _look_prepared(dialect_name: str, pushes_too: bool) -> quick.Prepared:
    return quick.Prepared(_look_statement(dialect_name, pushes_too))


@lru_cache(maxsize=256)   # an order's 1 or 2 numbers; the worker's batch of first dials (greeting.py) up to 200
def _lock_prepared(count: int) -> quick.Prepared:
    """One transaction-scoped advisory lock per number, taken in one round trip (one_number_at_a_time)."""
    return quick.Prepared(text("SELECT " + ", ".join(f"pg_advisory_xact_lock(hashtext(:k{i}))" for i in range(count))))


def counts_statement(creator_key, buyer_key, pushes_too: bool):
    """SELECT the clock, orders made by or for `creator_key` this hour, `buyer_key`'s 24-hour total and
    (with `pushes_too`) its STK pushes this hour: one statement, cut-offs on the database's clock."""
    created = (select(func.count()).select_from(Order)
               .where((Order.buyer_key == creator_key) | (Order.seller_key == creator_key),
                      Order.created_at > ago(HOUR)).scalar_subquery())
    spent = (select(func.coalesce(func.sum(Order.charge), 0))
             .where(Order.buyer_key == buyer_key, Order.created_at > ago(DAY), Order.state.not_in(NOT_COUNTED))
             .scalar_subquery())
    pushes = _pushes_in_the_last_hour(buyer_key).scalar_subquery() if pushes_too else literal(0)
    return select(utcnow(), created, spent, pushes)


@lru_cache(maxsize=8)
def _look_statement(dialect_name: str, pushes_too: bool):
    """counts_statement as a text statement compiled once (SQLAlchemy would rebuild the select and its cache key
    on every call: most of a look's CPU); its constants (cut-offs, the states not counted) bound as given.
    The look and the count under create_order's lock run the same statement."""
    kind = Order.buyer_key.type
    module = postgresql if dialect_name == "postgresql" else sqlite
    compiled = counts_statement(bindparam("creator", "", type_=kind), bindparam("buyer", "", type_=kind), pushes_too).compile(
        dialect=module.dialect(paramstyle="named"), compile_kwargs={"render_postcompile": True})
    constants = [bindparam(name, value) for name, value in compiled.params.items() if name not in ("creator", "buyer")]
    return (text(str(compiled)).bindparams(bindparam("creator", type_=kind), bindparam("buyer", type_=kind), *constants)
            .columns(column("now", DateTime), column("created", Integer), column("spent", BigInteger),
                     column("pushes", Integer)))   # by position: the clock comes back a datetime on SQLite too


def judge_limits(core: Core, created: int, spent: int, pushes: int, *, charge: int, pushes_too: bool) -> None:
    settings = core.settings
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
    _lock_numbers(quick.AlchemyUnit(session), session.get_bind().dialect.name, *keys)


def _lock_numbers(unit, dialect_name: str, *keys: str) -> None:
    if dialect_name != "postgresql":
        return
    names = [f"zemi:limits:{key}" for key in sorted({key for key in keys if key})]
    unit.first(_lock_prepared(len(names)), {f"k{i}": name for i, name in enumerate(names)})
