"""Transactional outbox: side effects are rows written with the fact that causes them,
then leased and carried out by the worker. A lease expires, so a crashed worker's rows
are picked up again; handlers are written so that a second run never repeats a payment."""
from datetime import datetime, timedelta

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from escrow.db import db_now, insert_many_once, insert_once, utcnow
from escrow.models import OutboxItem

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
    it commits (one round trip for all of them). Still the same transaction: the rows commit with
    the fact that causes them, or not at all. For rows nothing reads back before the commit."""
    session.info.setdefault(_AT_COMMIT, []).append(
        dict(kind=kind, subject_id=subject_id, dedupe_key=dedupe_key or f"{kind}:{subject_id}", due_at=due_at,
             status="pending", attempts=0))


_AT_COMMIT = "zemi.outbox_at_commit"


@event.listens_for(Session, "before_commit")
def _write_rows_at_commit(session: Session) -> None:
    rows = session.info.pop(_AT_COMMIT, None)
    if rows:
        session.flush()
        insert_many_once(session, OutboxItem, rows)


@event.listens_for(Session, "after_rollback")
def _forget_rows_at_commit(session: Session) -> None:
    session.info.pop(_AT_COMMIT, None)


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
