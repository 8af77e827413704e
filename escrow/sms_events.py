"""What the SMS provider tells us after a send (delivery reports), and what people text us (HELP, STOP).

Both run in the caller's transaction and are safe to repeat: providers resend callbacks
(Africa's Talking retries an incoming-message callback every minute until it gets a 200).

Incoming texts are de-duplicated on the provider's message id with a marker row in
inbound_callbacks (source "sms_inbound_done", dedupe_key "sms-inbound:<id>", unique),
inserted with insert_once in the same transaction as the reply it guards: the reply and
the marker commit together or not at all, and a concurrent retry of the same id waits on
the unique index and then does nothing. The raw callbacks themselves stay one row per
arrival, as stored by escrow.inbox.
"""
import hashlib
import logging
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from escrow.catalog import render
from escrow.code_on_screen import note_code_sms_failure
from escrow.context import Core
from escrow.db import db_now, insert_once, utcnow
from escrow.errors import InvalidPhoneNumber
from escrow.models import InboundCallback, Profile, SmsMessage
from escrow.notify import language_of, queue_sms
from escrow.phone import normalize_msisdn

log = logging.getLogger(__name__)

SETTLED_BY_REPORT = ("delivered", "undelivered", "failed")
# AT's interim statuses in the order a message passes through them; a late one never moves a message back.
_INTERIM_RANK = {"Sent": 1, "Submitted": 2, "Buffered": 3}
HELP_WORDS = {"HELP": "en", "MSAADA": "sw"}
STOP_WORDS = {"STOP": "en", "ACHA": "sw"}
INBOUND_MARKER_SOURCE = "sms_inbound_done"
ANSWERS_PER_DAY = 3


def record_delivery_report(session: Session, core: Core, *, message_id: str, status: str, final: bool,
                           delivered: bool, failure_reason: str | None) -> str:
    """Apply a delivery report to the message AT gave `message_id`: "updated", "duplicate" or "unknown".

    A final report settles the message as "delivered" or "undelivered" and is never overwritten;
    an interim one (Sent, Submitted, Buffered) only updates provider_status, and only forwards.
    """
    message = session.scalars(select(SmsMessage).where(SmsMessage.provider_message_id == message_id)
                              .with_for_update()).first()
    if message is None:
        return "unknown"
    if message.status in SETTLED_BY_REPORT or (not final and _is_stale(status, message.provider_status)):
        return "duplicate"
    provider_status, old_status = _provider_status(status, failure_reason), message.status
    new_status = ("delivered" if delivered else "undelivered") if final else old_status
    session.execute(update(SmsMessage).where(SmsMessage.id == message.id)
                    .values(status=new_status, provider_status=provider_status, updated_at=utcnow()))
    log.info("sms %s delivery report: %s -> %s (%s)", message.id, old_status, new_status, provider_status)
    if new_status == "undelivered":
        note_code_sms_failure(session, message, provider_status)
    return "updated"


def record_inbound_sms(session: Session, core: Core, *, message_id: str, from_phone: str, text: str) -> str:
    """Answer HELP/MSAADA, STOP/ACHA and ERASE/FUTA texts: "help", "stopped", "erase_asked" (a code sent
    back), "erasure" (ERASE <code>, confirmed), "ignored" or "duplicate" (escrow/privacy/erasure.py).

    A sender with no profile yet gets one in the keyword's language (MSAADA, ACHA: Kiswahili),
    so the reply is in the language they wrote in; an existing profile's language is kept.
    """
    from escrow.privacy.erasure import ERASE_WORDS, ask_by_sms, confirm_by_sms   # ERASE / FUTA (escrow/privacy)

    word = (text or "").strip().upper()
    first, _, code = word.partition(" ")
    if first in ERASE_WORDS and code.strip().isascii() and code.strip().isdigit():
        word, code = first, code.strip()                        # ERASE <code>: the confirmation
    else:
        code = None
    language = HELP_WORDS.get(word) or STOP_WORDS.get(word) or ERASE_WORDS.get(word)
    if language is None:
        return "ignored"
    try:
        phone = normalize_msisdn(from_phone)
    except InvalidPhoneNumber:
        return "ignored"  # not a Kenyan mobile number: nothing we can reply to
    if not _first_arrival(session, message_id):
        return "duplicate"
    key = core.vault.phone_key(phone)
    insert_once(session, Profile, phone_key=key, language=language)
    if word in ERASE_WORDS:
        return confirm_by_sms(session, core, phone, code) if code else ask_by_sms(session, core, phone, word)
    answer = _answers_today(session, key) < ANSWERS_PER_DAY
    if word in STOP_WORDS:
        session.execute(update(Profile).where(Profile.phone_key == key).values(reminders_off=True))
        if answer:
            queue_sms(session, core, phone=phone, kind="stopped", order_id=None)
        return "stopped"
    if answer:
        queue_sms(session, core, phone=phone, kind="help", order_id=None, **_help_params(session, core, phone))
    return "help"


def _answers_today(session: Session, key: str) -> int:
    """HELP and STOP answers sent to this number in the last day. An incoming text is trusted on the
    callback token alone (Africa's Talking signs nothing): with it, each forged post to any number
    cost us an SMS. Past ANSWERS_PER_DAY the keyword still acts (STOP stops), unanswered."""
    return session.scalar(select(func.count()).select_from(SmsMessage).where(
        SmsMessage.recipient_key == key, SmsMessage.kind.in_(("help", "stopped")),
        SmsMessage.created_at > db_now(session) - timedelta(days=1)))


def _first_arrival(session: Session, message_id: str) -> bool:
    """True the first time this provider message id is acted on (see the module's docstring)."""
    key = f"sms-inbound:{message_id}"
    if len(key) > 80:
        key = "sms-inbound:#" + hashlib.sha256(message_id.encode()).hexdigest()
    return insert_once(session, InboundCallback, source=INBOUND_MARKER_SOURCE, dedupe_key=key, body="",
                       status="applied", note="an incoming SMS id already acted on")


def _help_params(session: Session, core: Core, phone: str) -> dict:
    settings = core.settings
    return dict(paybill=core.paybill, support=core.support_phone,
                fee_pct=format(Decimal(settings.fee_bps) / 100, "f"),
                fee_min=f"{settings.fee_min:,}", fee_max=f"{settings.fee_max:,}",
                fee_note=render(language_of(session, core, phone), f"ussd.fee_by.{settings.fee_payer}"))


def _is_stale(interim: str, current: str | None) -> bool:
    """An interim status we already have, or one earlier than the one we have."""
    return interim == current or _INTERIM_RANK.get(interim, 0) < _INTERIM_RANK.get(current, 0)


def _provider_status(status: str, failure_reason: str | None) -> str:
    """AT's status, with the failure reason when there is one ("Failed:UserInBlackList"), in 32 characters."""
    if not failure_reason:
        return status[:32]
    combined = f"{status}:{failure_reason}"
    return combined if len(combined) <= 32 else failure_reason[:32]
