"""The API adapter's own rows beside the core's: which integration an order came through, payment
links, and the reads a polling front end needs (the latest STK push of an order)."""
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, text

from escrow.context import Core
from escrow.db import Database, db_now, insert_once
from escrow.errors import LimitExceeded
from escrow.models import ApiKey, ApiOrder, Order, PaymentAttempt, PaymentLink
from escrow.orders import order_by_reference, order_of_party, view_for
from escrow.views import OrderView
from escrow.payment_links import claim_for_integration, insert_link, is_sellers_copy, link_digest


def aware(moment: datetime | None) -> datetime | None:
    """The database keeps UTC without an offset; the API always shows one."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def new_link(db: Database, core: Core, *, seller: str, item: str, price: int, seconds: int | None = None,
             order_reference: str | None = None, api_key_id: int | None = None,
             parent_id: int | None = None) -> tuple[str, datetime]:
    """A link (escrow/payment_links.py: an unguessable token, only its sha256 kept). An order's link
    lives as long as the order can be paid; an open link for `seconds`. An order's link made through an
    API key also records the order as that key's integration's (its webhooks go there), in one transaction."""
    with db.transaction() as session:
        order = order_by_reference(session, order_reference) if order_reference else None
        if order is not None and api_key_id is not None:
            record_api_order(session, order, api_key_id)
        expires_at = (order.pay_by if order is not None and order.pay_by else
                      db_now(session) + timedelta(seconds=seconds or 86400))
        token = insert_link(session, core, seller=seller, item=item, price=price, expires_at=expires_at,
                            order_id=order.id if order else None, api_key_id=api_key_id, parent_id=parent_id)
    return token, aware(expires_at)


def record_api_order(session, order: Order, api_key_id: int) -> None:
    """The order came through this API key: its webhooks go to the key's integration, and its links
    are the key's."""
    insert_once(session, ApiOrder, order_id=order.id, api_key_id=api_key_id,
                integration=session.get(ApiKey, api_key_id).name)
    claim_for_integration(session, order.id, api_key_id)


def is_integrations_order(db: Database, reference: str, integration: str) -> bool:
    """Whether the order came through `integration` (its API keys, or its pay links)."""
    with db.transaction() as session:
        return session.scalar(select(ApiOrder.order_id).join(Order, Order.id == ApiOrder.order_id).where(
            Order.reference == reference, ApiOrder.integration == integration)) is not None


def integrations_orders_of(db: Database, core: Core, phone: str, integration: str, *, offset: int,
                           limit: int) -> list[OrderView]:
    """The number's orders that came through `integration`, newest first, as their party sees them."""
    key = core.vault.phone_key(phone)
    with db.transaction() as session:
        orders = session.scalars(select(Order).join(ApiOrder, ApiOrder.order_id == Order.id).where(
            (Order.buyer_key == key) | (Order.seller_key == key), ApiOrder.integration == integration)
            .order_by(Order.id.desc()).offset(offset).limit(limit))
        return [view_for(core, order, "buyer" if order.buyer_key == key else "seller") for order in orders]


def link_for(db: Database, token: str) -> PaymentLink | None:
    if not token or len(token) > 100:
        return None
    with db.transaction() as session:
        link = session.scalar(select(PaymentLink).where(PaymentLink.token_hash == link_digest(token)))
        if link is not None:
            session.expunge(link)
        return link


def sellers_copy(db: Database, link: PaymentLink) -> bool:
    """The seller's copy of a named request's link (escrow/payment_links.py): it answers nothing."""
    if link.parent_id is None:
        return False
    with db.transaction() as session:
        return is_sellers_copy(session, link)


def link_is_live(db: Database, link: PaymentLink) -> bool:
    with db.transaction() as session:
        return link.expires_at > db_now(session)


@contextmanager
def link_prompt_turn(db: Database, link: PaymentLink, per_hour: int):
    """Prompts sent from one link per hour (its orders' pushes, or orders opened from an open link),
    counted and sent one post at a time: `with link_prompt_turn(...): <send the prompt>`.

    The count and the prompt are separate transactions (the prompt is the core's own use case), so
    posts sent together each counted the others' prompts as not there yet. The turn is held across
    both: on PostgreSQL a transaction-scoped advisory lock on the link, taken with try (a post that
    finds the link busy is told so at once, holding no connection while it waits: the turn's holder
    needs a second one for the prompt), released when the turn's transaction ends, after the
    prompt's own commit, so the next post's count sees it; on SQLite (one process) a lock per link
    (striped)."""
    if db.dialect == "postgresql":
        with db.transaction() as session:
            if not session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"),
                                  {"name": f"zemi:pay-link:{link.id}"}):
                raise LimitExceeded("link_busy", per_hour)
            _count_link_prompts(session, link, per_hour)
            yield
        return
    local = _LOCAL_TURNS[link.id % len(_LOCAL_TURNS)]   # SQLite: no transaction held open (a writer's
    if not local.acquire(blocking=False):              # would lock out the prompt's)
        raise LimitExceeded("link_busy", per_hour)
    try:
        with db.transaction() as session:
            _count_link_prompts(session, link, per_hour)
        yield
    finally:
        local.release()


_LOCAL_TURNS = tuple(threading.Lock() for _ in range(64))   # striped: bounded whatever the links


def _count_link_prompts(session, link: PaymentLink, per_hour: int) -> None:
    since = db_now(session) - timedelta(hours=1)
    if link.order_id is None:
        count = session.scalar(select(func.count()).select_from(PaymentLink).where(
            PaymentLink.parent_id == link.id, PaymentLink.created_at > since))
    else:
        count = session.scalar(select(func.count()).select_from(PaymentAttempt).where(
            PaymentAttempt.order_id == link.order_id, PaymentAttempt.created_at > since))
    if count >= per_hour:
        raise LimitExceeded("prompts_per_link_per_hour", per_hour)


def order_of_link(db: Database, core: Core, link: PaymentLink) -> tuple[Order, str, str]:
    """(order, buyer's number, seller's number) of an order's link."""
    with db.transaction() as session:
        order = session.get(Order, link.order_id)
        session.expunge(order)
        return order, core.vault.unseal(order.buyer_sealed), core.vault.unseal(order.seller_sealed)


def latest_attempt(db: Database, core: Core, phone: str, reference: str):
    """(order state, latest PaymentAttempt or None) for a party to the order."""
    with db.transaction() as session:
        order, _ = order_of_party(session, core, phone, reference)
        attempt = session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_id == order.id)
                                 .order_by(PaymentAttempt.id.desc()).limit(1))
        if attempt is not None:
            session.expunge(attempt)
        return order.reference, order.state, attempt


def attempt_by_checkout(db: Database, checkout_id: str, integration: str):
    """(reference, state, attempt) for a checkout id of an order that came through `integration`."""
    with db.transaction() as session:
        row = session.execute(
            select(PaymentAttempt, Order.reference, Order.state).join(Order, Order.id == PaymentAttempt.order_id)
            .join(ApiOrder, ApiOrder.order_id == Order.id)
            .where(PaymentAttempt.checkout_request_id == checkout_id, ApiOrder.integration == integration)).first()
        if row is None:
            return None
        session.expunge(row[0])
        return row[1], row[2], row[0]
