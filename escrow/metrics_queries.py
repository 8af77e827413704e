"""The figures /metrics reports about the books, read in one unit of work (console/metrics.py)."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.db import db_now
from escrow.findings import FINDING
from escrow.models import InboundCallback, Order, OutboxItem


@dataclass(frozen=True)
class Books:
    held: int
    suspense: int
    outbox_pending: int      # due now and not done
    outbox_scheduled: int    # pending, due later (reminders, timers)
    outbox_oldest_due_seconds: float
    findings_open: int
    callbacks: dict          # (source, status) -> count, last 24 h
    orders: dict             # state -> count


def books(session: Session) -> Books:
    now = db_now(session)
    pending, oldest = session.execute(select(func.count(), func.min(OutboxItem.due_at))
                                      .where(OutboxItem.status == "pending", OutboxItem.due_at <= now)).one()
    scheduled = session.scalar(select(func.count()).select_from(OutboxItem)
                               .where(OutboxItem.status == "pending", OutboxItem.due_at > now))
    callbacks = session.execute(select(InboundCallback.source, InboundCallback.status, func.count())
                                .where(InboundCallback.received_at >= now - timedelta(days=1),
                                       InboundCallback.source != FINDING)
                                .group_by(InboundCallback.source, InboundCallback.status)).all()
    return Books(held=-ledger.balance(session, ledger.ESCROW_HELD), suspense=-ledger.balance(session, ledger.SUSPENSE),
                 outbox_pending=pending, outbox_scheduled=scheduled, outbox_oldest_due_seconds=max(0.0, (now - oldest).total_seconds()) if oldest
                 else 0.0,
                 findings_open=session.scalar(select(func.count()).select_from(InboundCallback)
                                              .where(InboundCallback.source == FINDING,
                                                     InboundCallback.status == "open")),
                 callbacks={(source, status): count for source, status, count in callbacks},
                 orders=dict(session.execute(select(Order.state, func.count()).group_by(Order.state)).all()))
