"""Per-number limits, counted in the database (so losing Redis never lifts them)."""
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.db import db_now
from escrow.errors import LimitExceeded
from escrow.models import Order, PaymentAttempt

NOT_COUNTED = ("expired", "cancelled", "declined")


def check_order_limits(session: Session, core: Core, *, creator_key: str, buyer_key: str, charge: int) -> None:
    """Orders per number per hour (whoever creates them) and the buyer's daily total."""
    settings, now = core.settings, db_now(session)
    created = session.scalar(select(func.count()).select_from(Order).where(
        (Order.buyer_key == creator_key) | (Order.seller_key == creator_key),
        Order.created_at > now - timedelta(hours=1)))
    if created >= settings.orders_per_hour:
        raise LimitExceeded("orders_per_hour", settings.orders_per_hour)
    spent = session.scalar(select(func.coalesce(func.sum(Order.charge), 0)).where(
        Order.buyer_key == buyer_key, Order.created_at > now - timedelta(days=1), Order.state.not_in(NOT_COUNTED)))
    if spent + charge > settings.daily_total_per_buyer:
        raise LimitExceeded("daily_total_per_buyer", settings.daily_total_per_buyer)


def check_push_limit(session: Session, core: Core, buyer_key: str) -> None:
    """STK pushes to one number per hour: prompt spam is a fraud vector (reliability.md X9)."""
    limit, now = core.settings.stk_pushes_per_hour, db_now(session)
    pushes = session.scalar(select(func.count()).select_from(PaymentAttempt).join(Order).where(
        Order.buyer_key == buyer_key, PaymentAttempt.created_at > now - timedelta(hours=1)))
    if pushes >= limit:
        raise LimitExceeded("stk_pushes_per_hour", limit)
