"""Tables of the operators' side that the core's other modules never need (issue 15): alerts sent to
the people on call, and operators' unlocks of delivery-code lockouts. Migration 0016 creates them."""
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escrow.db import utcnow
from escrow.models import Base


class Alert(Base):
    """One alert of one kind per clock hour: the unique constraint is what keeps the people on call from
    being texted twice (two workers, a retried pass), not a check in the code."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("kind", "hour", name="uq_alert_kind_hour"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    hour: Mapped[datetime] = mapped_column(DateTime)          # the UTC hour it belongs to
    summary: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=utcnow(), nullable=False)


class CodeUnlock(Base):
    """An operator lifted a delivery-code lockout: a caller's day of wrong codes (order_id NULL) or one
    order's locked code. Misses before `at` no longer count against the caller."""

    __tablename__ = "code_unlocks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_key: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    operator: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime, server_default=utcnow(), nullable=False)
