"""An operator sends an undelivered SMS again: as a new message (the old row stays as it was, so a sent
message is still never sent twice), once per original, and a delivery code only while it is the latest."""
from datetime import timedelta

from sqlalchemy import select

from escrow import outbox
from escrow.code_on_screen import screen_code_after
from escrow.db import db_now, insert_row
from escrow.errors import EscrowError
from escrow.models import SmsMessage

RESENDABLE = ("sent", "failed", "undelivered")    # settled without a delivery report, or refused
WAIT_BEFORE_RESEND = timedelta(minutes=30)
CODE_KINDS = ("code_to_buyer", "new_code_to_buyer")


def resend_sms(session, sms_id: int) -> int:
    """Queue a copy of message `sms_id`; returns the new message's id. Refused, in words, for a message
    still on its way, already resent, or carrying a code a newer one replaced."""
    message = session.get(SmsMessage, sms_id)
    if message is None:
        raise EscrowError(f"no SMS #{sms_id}")
    if message.status not in RESENDABLE or message.created_at > db_now(session) - WAIT_BEFORE_RESEND:
        raise EscrowError(f"SMS #{sms_id} is {message.status}: it can be sent again once failed, undelivered, "
                          f"or sent with no delivery report for {WAIT_BEFORE_RESEND.seconds // 60} minutes")
    if message.kind in CODE_KINDS and message.order_id is not None and session.scalar(
            select(SmsMessage.id).where(SmsMessage.order_id == message.order_id, SmsMessage.kind.in_(CODE_KINDS),
                                        SmsMessage.id > message.id, SmsMessage.recipient_key == message.recipient_key)
            .limit(1)):
        raise EscrowError(f"SMS #{sms_id} carries a delivery code a newer message replaced: nothing was sent")
    if message.kind in CODE_KINDS and message.order_id is not None and screen_code_after(
            session, message.order_id, message.created_at):
        raise EscrowError(f"SMS #{sms_id} carries a delivery code replaced by one shown on the buyer's USSD screen: "
                          f"nothing was sent")
    copy = insert_row(session, SmsMessage, order_id=message.order_id, recipient_key=message.recipient_key,
                      recipient_sealed=message.recipient_sealed, kind=message.kind, language=message.language,
                      body_redacted=message.body_redacted, body_sealed=message.body_sealed, status="queued")
    if not outbox.enqueue(session, outbox.SMS, copy, due_at=db_now(session), dedupe_key=f"sms-resend:{sms_id}"):
        raise EscrowError(f"SMS #{sms_id} was sent again already")
    return copy
