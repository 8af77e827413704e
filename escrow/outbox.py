"""Transactional outbox: side effects are rows written with the fact that causes them,
then leased and carried out by the worker. A lease expires, so a crashed worker's rows
are picked up again; handlers are written so that a second run never repeats a payment."""
from datetime import datetime, timedelta

from sqlalchemy import DateTime, String, cast, insert, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from escrow.db import db_now, insert_once, utcnow
from escrow.models import OutboxItem
from escrow.writes import Then, insert_at_commit

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8

STK_PUSH = "stk_push"
PAYOUT = "b2c_payout"
PAYOUT_STATUS = "b2c_status"
SMS = "sms"
REMINDER = "reminder"


def enqueue(session: Session, kind: str, subject_id: int, *, due_at: datetime, dedupe_key: str | None = None) -> bool:
    """Add a side effect to do at `due_at`; the dedupe key makes a repeat a no-op."""
    key = dedupe_key or f"{kind}:{subject_id}"
    return insert_once(session, OutboxItem, kind=kind, subject_id=subject_id, dedupe_key=key,
                       due_at=due_at, status="pending")


def enqueue_at_commit(session: Session, kind: str, subject_id: int, *, due_at: datetime,
                      dedupe_key: str | None = None) -> None:
    """enqueue, written with the unit of work's other such rows in one multi-row INSERT just before
    it commits (escrow/writes.py: one round trip for all its waiting writes). Still the same
    transaction: the rows commit with the fact that causes them, or not at all."""
    insert_at_commit(session, OutboxItem, kind=kind, subject_id=subject_id,
                     dedupe_key=dedupe_key or f"{kind}:{subject_id}", due_at=due_at, status="pending", attempts=0)


def for_each_new(kind: str, *, due_at: datetime, subject=None) -> Then:
    """The outbox row of each row a waiting INSERT makes (its subject: the new id, or
    `subject(new)` of it), written in the same statement (escrow/writes.py). A new id is a new
    dedupe key: no conflict to skip. `due_at`: a time, or a bindparam() given at each run."""
    columns = OutboxItem.__table__.c
    due = due_at if isinstance(due_at, ColumnElement) else literal(due_at, DateTime())

    def rows_for(new):
        subject_id = new.c.id if subject is None else subject(new)
        return insert(OutboxItem.__table__).from_select(
            ["kind", "subject_id", "dedupe_key", "due_at", "status", "attempts"],
            select(literal(kind, columns.kind.type), subject_id,
                   literal(f"{kind}:", columns.dedupe_key.type) + cast(subject_id, String),
                   due, literal("pending", columns.status.type),
                   literal(0, columns.attempts.type)))
    return Then(OutboxItem.__table__, rows_for)


def lease_due(session: Session, limit: int = 20) -> list[OutboxItem]:
    """Claim due rows for this worker. SKIP LOCKED on PostgreSQL; the conditional UPDATE
    makes the claim safe on SQLite too (two claimers: one gets rowcount 0)."""
    now = db_now(session)
    query = (select(OutboxItem).where(OutboxItem.status == "pending", OutboxItem.due_at <= now,
                                      or_(OutboxItem.leased_until.is_(None), OutboxItem.leased_until < now))
             .order_by(OutboxItem.due_at, OutboxItem.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for item in session.scalars(query).all():
        won = session.execute(
            update(OutboxItem).where(OutboxItem.id == item.id, OutboxItem.status == "pending",
                                     or_(OutboxItem.leased_until.is_(None), OutboxItem.leased_until < now))
            .values(leased_until=now + LEASE, attempts=OutboxItem.attempts + 1)).rowcount
        if won:
            session.refresh(item)
            claimed.append(item)
    return claimed


def mark_done(session: Session, item_id: int) -> None:
    session.execute(update(OutboxItem).where(OutboxItem.id == item_id)
                    .values(status="done", done_at=utcnow(), leased_until=None))


def retry_later(session: Session, item_id: int, attempts: int, error: str) -> None:
    """Back off exponentially (2 s, 4 s, ... capped at 10 min); give up after MAX_ATTEMPTS."""
    if attempts >= MAX_ATTEMPTS:
        give_up(session, item_id, error)
        return
    delay = timedelta(seconds=min(2 ** attempts, 600))
    now = db_now(session)
    session.execute(update(OutboxItem).where(OutboxItem.id == item_id)
                    .values(due_at=now + delay, leased_until=None, last_error=error[:300]))


def give_up(session: Session, item_id: int, error: str) -> None:
    session.execute(update(OutboxItem).where(OutboxItem.id == item_id)
                    .values(status="failed", leased_until=None, last_error=error[:300]))
