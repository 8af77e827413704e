"""SMS as outbox work: rendered in the recipient's language, sealed at rest, codes redacted."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow import outbox
from escrow.catalog import DEFAULT_LANGUAGE, render
from escrow.context import Core
from escrow.db import db_now, insert_row
from escrow.models import Profile, SmsMessage

REDACTED = "******"


def language_of(session: Session, core: Core, phone: str) -> str:
    language = session.scalar(select(Profile.language).where(Profile.phone_key == core.vault.phone_key(phone)))
    return language or DEFAULT_LANGUAGE


def queue_sms(session: Session, core: Core, *, phone: str, kind: str, order_id: int | None,
              secret: dict | None = None, **params) -> int:
    """Write the message and its outbox row in the caller's transaction.

    `secret` values (a delivery code) go only into the sealed body; the stored readable
    body shows them as ******.
    """
    language = language_of(session, core, phone)
    key = f"sms.{kind}"
    secret = secret or {}
    full = render(language, key, **params, **secret)
    redacted = render(language, key, **params, **{name: REDACTED for name in secret})
    sms_id = insert_row(session, SmsMessage, order_id=order_id, recipient_key=core.vault.phone_key(phone),
                        recipient_sealed=core.vault.seal(phone), kind=kind, language=language,
                        body_redacted=redacted, body_sealed=core.vault.seal(full), status="queued")
    outbox.enqueue(session, outbox.SMS, sms_id, due_at=db_now(session))
    return sms_id
