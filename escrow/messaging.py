"""Sending queued SMS: at most one worker holds a message at a time, and a sent message is never sent again."""
import logging

from sqlalchemy import update

from escrow.code_on_screen import note_code_sms_failure
from escrow.context import Core
from escrow.db import Database, utcnow
from escrow.models import SmsMessage
from escrow.phone import mask
from escrow.ports import SmsError, SmsSender

log = logging.getLogger(__name__)
SETTLED = ("sent", "delivered", "recorded", "failed", "undelivered")


def send_sms(db: Database, core: Core, sender: SmsSender, sms_id: int) -> str:
    with db.transaction() as session:
        message = session.get(SmsMessage, sms_id)
        if message.status in SETTLED:
            return message.status
        _set(session, sms_id, status="sending", attempts=SmsMessage.attempts + 1)
        phone, text = core.vault.unseal(message.recipient_sealed), core.vault.unseal(message.body_sealed)
        redacted, kind = message.body_redacted, message.kind
    try:
        receipt = sender.send(phone, text)
    except SmsError as error:
        return _record_failure(db, sms_id, error)
    status = ("recorded" if receipt.status == "recorded" else "sent") if receipt.accepted else \
        ("queued" if receipt.retryable else "failed")
    with db.transaction() as session:
        _set(session, sms_id, status=status, provider_message_id=receipt.message_id,
             provider_status=receipt.status, cost=receipt.cost)
        if status == "failed":
            note_code_sms_failure(session, session.get(SmsMessage, sms_id), str(receipt.status))
    log.info("sms %s %s to %s: %s", sms_id, kind, mask(phone), redacted if status == "recorded" else status)
    if status == "queued":
        raise SmsError(f"recipient refused for now: {receipt.status}", retryable=True)
    return status


def _record_failure(db: Database, sms_id: int, error: SmsError) -> str:
    with db.transaction() as session:
        _set(session, sms_id, status="queued" if error.retryable else "failed", provider_status=str(error)[:32])
        if not error.retryable:
            note_code_sms_failure(session, session.get(SmsMessage, sms_id), str(error)[:32])
    if error.retryable:
        raise error
    return "failed"


def _set(session, sms_id: int, **values) -> None:
    session.execute(update(SmsMessage).where(SmsMessage.id == sms_id).values(updated_at=utcnow(), **values))
