"""A handset's SMS inbox: every SMS recorded for a number, opened from its seal (as `flask phone` does).
Times are the handset's clock: Nairobi time (the database keeps naive UTC)."""
from datetime import timedelta

from sqlalchemy import select

from escrow.models import SmsMessage

EAT = timedelta(hours=3)   # East Africa Time, UTC+3 all year


def texts_to(db, vault, number: str) -> list[dict]:
    with db.transaction() as session:
        rows = session.execute(select(SmsMessage.id, SmsMessage.body_sealed, SmsMessage.created_at)
                               .where(SmsMessage.recipient_key == vault.phone_key(number))
                               .order_by(SmsMessage.id)).all()
    return [{"id": row.id, "text": vault.unseal(row.body_sealed),
             "at": (row.created_at + EAT).strftime("%H:%M") if row.created_at else ""} for row in rows]
