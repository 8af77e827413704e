"""Tables of the JSON API's side that the core's other modules never need (issue 16): each try of a
webhook delivery. Migration 0015 creates them. (The API's other tables are in escrow/models.py.)"""
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from escrow.db import utcnow
from escrow.models import Base


class WebhookAttempt(Base):
    """One try of a webhook delivery and the endpoint's answer (a status, or an error's name)."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(60))
    duration_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime, server_default=utcnow(), nullable=False)
