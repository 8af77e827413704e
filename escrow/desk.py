"""What the operators' console reads: the overview's figures, the order search, one order in full.

Reads only. Numbers stay sealed here: callers get the sealed values and decide (with an audited
reveal) whether to open them; `masked` is what every list shows.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, literal_column, or_, select
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.context import Core
from escrow.db import db_now
from escrow.errors import EscrowError
from escrow.findings import FINDING
from escrow.models import (CodeAttempt, InboundCallback, JournalEntry, Order, OrderEvent, PaymentAttempt,
                           PaymentReceived, Payout, Posting, SmsMessage)
from escrow.phone import mask, normalize_msisdn
from escrow.reports import UNDELIVERED
from escrow.states import State

EAT = timedelta(hours=3)       # East Africa Time: UTC+3 all year, no daylight saving
CODE_SMS = ("code_to_buyer", "new_code_to_buyer", "code_locked_to_buyer")
UNDELIVERED_AFTER = timedelta(minutes=30)
_REFERENCE = re.compile(r"^[0-9]{8}$")
_RECEIPT = re.compile(r"^[A-Z0-9]{10}$")


def eat_day_start(now_utc: datetime) -> datetime:
    """The start of today in Nairobi, as naive UTC (how the database keeps time)."""
    local = now_utc + EAT
    return datetime(local.year, local.month, local.day) - EAT


def eat_month_start(now_utc: datetime) -> datetime:
    local = now_utc + EAT
    return datetime(local.year, local.month, 1) - EAT


@dataclass
class Overview:
    held: int
    suspense: int
    paid_in_today: int
    paid_out_today: int
    fees_today: int
    fees_month: int
    by_state: dict
    disputes: list            # (reference, reason, since) oldest first
    needs_review: int
    open_findings: int
    payouts_unknown: int
    undelivered_code_sms: int
    low_float: int
    now: datetime = field(default=None)


def overview(session: Session) -> Overview:
    now = db_now(session)
    today, month = eat_day_start(now), eat_month_start(now)
    by_state = dict(session.execute(select(Order.state, func.count()).group_by(Order.state)).all())
    disputes = open_disputes(session, limit=50)
    return Overview(
        held=-ledger.balance(session, ledger.ESCROW_HELD), suspense=-ledger.balance(session, ledger.SUSPENSE),
        paid_in_today=_sum(session, PaymentReceived.amount, PaymentReceived.created_at >= today),
        paid_out_today=_sum(session, Payout.amount, Payout.status == "succeeded", Payout.updated_at >= today),
        fees_today=_fees_since(session, today), fees_month=_fees_since(session, month), by_state=by_state,
        disputes=disputes, needs_review=by_state.get(State.NEEDS_REVIEW.value, 0),
        open_findings=_count(session, InboundCallback.source == FINDING, InboundCallback.status == "open"),
        payouts_unknown=_count(session, Payout.status == "unknown", model=Payout),
        undelivered_code_sms=_count(session, SmsMessage.kind.in_(CODE_SMS), SmsMessage.status.in_(UNDELIVERED),
                                    SmsMessage.created_at <= now - UNDELIVERED_AFTER, model=SmsMessage),
        low_float=_count(session, InboundCallback.source == FINDING, InboundCallback.status == "open",
                         InboundCallback.dedupe_key.like(f"{FINDING}:float-low%")),
        now=now)


def open_disputes(session: Session, *, limit: int = 200) -> list[tuple]:
    """(reference, reason, since) of disputed orders, oldest first."""
    return [tuple(row) for row in session.execute(
        select(Order.reference, Order.dispute_reason, Order.updated_at)
        .where(Order.state == State.DISPUTED.value).order_by(Order.updated_at).limit(limit)).all()]


def _sum(session: Session, column, *where) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(column), 0)).where(*where)))


def _count(session: Session, *where, model=InboundCallback) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)))


def _fees_since(session: Session, since: datetime) -> int:
    return -int(session.scalar(select(func.coalesce(func.sum(Posting.amount), 0))
                               .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                               .where(Posting.account == ledger.FEE_REVENUE, JournalEntry.created_at >= since)))


@dataclass(frozen=True)
class OrderFilter:
    """A search: `text` is a reference, a phone number, an M-Pesa receipt or part of an item."""
    text: str = ""
    states: tuple = ()
    start: datetime | None = None     # naive UTC, inclusive
    end: datetime | None = None       # naive UTC, exclusive
    party_key: str | None = None      # a phone number's keyed hash (Vault.phone_key): buyer or seller


def phone_key_of(core: Core, text: str | None) -> str | None:
    """The keyed hash of `text` when it is a phone number, else None."""
    try:
        return core.vault.phone_key(normalize_msisdn(text or "")) if text else None
    except (EscrowError, ValueError):
        return None


def order_query(core: Core, wanted: OrderFilter):
    """The filtered orders, newest first (by id, so paging by id is a keyset)."""
    query = select(Order).order_by(Order.id.desc())
    text = (wanted.text or "").strip()
    if text:
        query = query.where(_text_match(core, text))
    if wanted.party_key:
        query = query.where((Order.buyer_key == wanted.party_key) | (Order.seller_key == wanted.party_key))
    if wanted.states:
        query = query.where(Order.state.in_(wanted.states))
    if wanted.start:
        query = query.where(Order.created_at >= wanted.start)
    if wanted.end:
        query = query.where(Order.created_at < wanted.end)
    return query


def _text_match(core: Core, text: str):
    if _REFERENCE.match(text):
        return Order.reference == text
    key = phone_key_of(core, text)
    if key:
        return (Order.buyer_key == key) | (Order.seller_key == key)
    if _RECEIPT.match(text.upper()):
        receipt = text.upper()
        return or_(Order.id.in_(select(PaymentReceived.order_id).where(PaymentReceived.receipt == receipt)),
                   Order.id.in_(select(Payout.order_id).where(Payout.receipt == receipt)))
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Order.item.ilike(f"%{escaped}%", escape="\\")


def search_orders(session: Session, core: Core, wanted: OrderFilter, *, after_id: int | None = None,
                  limit: int = 50) -> tuple[list[Order], int | None]:
    """One page of the search and the id to continue after (None on the last page)."""
    query = order_query(core, wanted)
    if after_id:
        query = query.where(Order.id < after_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def masked_parties(core: Core, order: Order) -> tuple[str, str]:
    return mask(core.vault.unseal(order.buyer_sealed)), mask(core.vault.unseal(order.seller_sealed))


@dataclass
class OrderFile:
    """Everything about one order an operator may need, numbers still sealed."""
    order: Order
    held: int
    events: list
    attempts: list
    payments: list
    payouts: list
    sms: list
    entries: list            # (JournalEntry, [Posting])
    findings: list
    code_attempts: list = field(default_factory=list)   # delivery-code entries on this order (who is not shown)
    callbacks: list = field(default_factory=list)       # provider callbacks naming this order's ids or receipts


def order_file(session: Session, reference: str) -> OrderFile:
    from escrow.orders import order_by_reference

    order = order_by_reference(session, reference)
    by_order = lambda model: list(session.scalars(select(model).where(model.order_id == order.id)  # noqa: E731
                                                  .order_by(model.id)))
    entries = by_order(JournalEntry)
    postings = {}
    for posting in session.scalars(select(Posting).where(Posting.entry_id.in_([e.id for e in entries]))
                                   .order_by(Posting.id)):
        postings.setdefault(posting.entry_id, []).append(posting)
    findings = list(session.scalars(select(InboundCallback).where(
        InboundCallback.source == FINDING, InboundCallback.body.like(f'%"order": "{order.reference}"%'))
        .order_by(InboundCallback.id)))
    return OrderFile(order=order, held=ledger.held_for(session, order.id), events=by_order(OrderEvent),
                     attempts=by_order(PaymentAttempt), payments=by_order(PaymentReceived), payouts=by_order(Payout),
                     sms=by_order(SmsMessage), entries=[(e, postings.get(e.id, [])) for e in entries],
                     findings=findings, code_attempts=by_order(CodeAttempt),
                     callbacks=linked_callbacks(session, order, attempts=by_order(PaymentAttempt),
                                                payments=by_order(PaymentReceived), payouts=by_order(Payout)))


def linked_callbacks(session: Session, order: Order, *, attempts, payments, payouts, limit: int = 30) -> list:
    """Stored callbacks (bodies masked) that name one of the order's checkout ids, receipts or transfer ids,
    received since the order was made. Callbacks carry no order id, so this reads their bodies: bounded by
    time and by a limit."""
    names = {value for value in [a.checkout_request_id for a in attempts] + [p.receipt for p in payments]
             + [t.receipt for t in payouts] + [t.conversation_id for t in payouts]
             + [t.originator_conversation_id for t in payouts] if value}
    if not names:
        return []
    return list(session.scalars(select(InboundCallback).where(
        InboundCallback.received_at >= order.created_at, InboundCallback.source != FINDING,
        or_(*[InboundCallback.body.contains(name, autoescape=True) for name in sorted(names)[:20]]))
        .order_by(InboundCallback.id).limit(limit)))


def undelivered_sms(session: Session, *, limit: int = 200) -> list[SmsMessage]:
    """Messages not known to have reached the handset half an hour on, oldest first (codes redacted)."""
    now = db_now(session)
    return list(session.scalars(select(SmsMessage).where(SmsMessage.status.in_(UNDELIVERED),
                                                         SmsMessage.created_at <= now - UNDELIVERED_AFTER)
                                .order_by(SmsMessage.created_at, SmsMessage.id).limit(limit)))


def callbacks_for_review(session: Session, *, limit: int = 200) -> list[InboundCallback]:
    """Stored provider callbacks that changed nothing and may want a look, newest first (bodies masked),
    and B2C answers kept `unverified` (their transfer is being checked instead)."""
    from escrow.reports import CALLBACKS_FOR_REVIEW
    from escrow.sms_events import INBOUND_MARKER_SOURCE
    from escrow.transfer_answers import UNVERIFIED
    return list(session.scalars(select(InboundCallback).where(
        InboundCallback.status.in_(CALLBACKS_FOR_REVIEW + (UNVERIFIED,)),
        InboundCallback.source.not_in((FINDING, INBOUND_MARKER_SOURCE))).order_by(InboundCallback.id.desc())
        .limit(limit)))


def daily_totals(session: Session, start: datetime, end: datetime) -> list[dict]:
    """Per EAT day in [start, end): orders created, money in, money out (succeeded transfers), fees earned,
    and orders closed by outcome; grouped in the database (one query per figure)."""
    days: dict = {}

    def add(name, moment, value, *where):
        day = _eat_day(session, moment)
        for when, total in session.execute(select(day, func.sum(value)).where(moment >= start, moment < end, *where)
                                           .group_by(day)):
            key = when if isinstance(when, str) else f"{when:%Y-%m-%d}"
            days.setdefault(key[:10], dict.fromkeys(DAY_FIGURES, 0))[name] += int(total or 0)
    add("orders", Order.created_at, literal_column("1"))
    add("paid_in", PaymentReceived.created_at, PaymentReceived.amount)
    add("paid_out", Payout.updated_at, Payout.amount, Payout.status == "succeeded")
    add("fees", JournalEntry.created_at, -Posting.amount, Posting.account == ledger.FEE_REVENUE,
        JournalEntry.id == Posting.entry_id)
    outcome_of = {state: outcome for outcome, states in OUTCOMES.items() for state in states}
    closed_on = _eat_day(session, Order.updated_at)
    for when, state, count in session.execute(
            select(closed_on, Order.state, func.count()).where(Order.updated_at >= start, Order.updated_at < end,
                                                                Order.state.in_(outcome_of)).group_by(closed_on, Order.state)):
        key = when if isinstance(when, str) else f"{when:%Y-%m-%d}"
        days.setdefault(key[:10], dict.fromkeys(DAY_FIGURES, 0))[outcome_of[state]] += count
    return [{"day": day, **days[day]} for day in sorted(days)]


DAY_FIGURES = ("orders", "paid_in", "paid_out", "fees", "released", "refunded", "settled", "expired")
OUTCOMES = {"released": ("released", "paid_out"), "refunded": ("refunding", "refunded"),
            "settled": ("settling", "settled"), "expired": ("expired", "cancelled", "declined")}


def _eat_day(session: Session, moment):
    """The EAT calendar day of a naive-UTC column, as the database computes it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("day", moment + literal_column("interval '3 hours'"))
    return func.date(moment, "+3 hours")
