"""Provider callbacks kept raw before they are acted on, and marked with what became of them."""
from sqlalchemy import update

from escrow.db import Database, insert_row
from escrow.models import InboundCallback

MAX_BODY = 64 * 1024


def store_callback(db: Database, *, source: str, body: bytes | str, remote_addr: str | None) -> int:
    """Commit the raw body first, so nothing that arrives is ever lost, whatever happens next."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    with db.transaction() as session:
        return insert_row(session, InboundCallback, source=source, body=text[:MAX_BODY],
                          remote_addr=(remote_addr or "")[:64], status="received")


def mark_callback(session, callback_id: int, status: str, note: str | None = None) -> None:
    session.execute(update(InboundCallback).where(InboundCallback.id == callback_id)
                    .values(status=status, note=(note or "")[:300] or None))


def mark_callback_alone(db: Database, callback_id: int, status: str, note: str | None = None) -> None:
    with db.transaction() as session:
        mark_callback(session, callback_id, status, note)
