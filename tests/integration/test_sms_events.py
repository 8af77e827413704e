"""Delivery reports and texts to our short code, against the real database (SQLite, or DATABASE_URL)."""
import threading

import pytest
from sqlalchemy import func, select

from escrow.messaging import send_sms
from escrow.models import InboundCallback, OutboxItem, Profile, SmsMessage
from escrow.notify import queue_sms
from escrow.service import EscrowService
from escrow.sms_events import record_delivery_report, record_inbound_sms
from sms.results import parse_delivery_report, parse_inbound_sms
from tests.fakes.ports import FakeSmsSender

BUYER = "0712345678"
AT_BUYER = "+254712345678"


def sent_message(database, core, sender=None) -> SmsMessage:
    """A message queued and sent by the worker's own send step (provider id "fake-N")."""
    with database.transaction() as session:
        sms_id = queue_sms(session, core, phone=BUYER, kind="released_to_buyer", order_id=None,
                           item="Blue kitenge", ref="12345678", payout="1,000", fee="15", seller="0722000111")
    assert send_sms(database, core, sender or FakeSmsSender(), sms_id) == "sent"
    return message(database, sms_id)


def message(database, sms_id) -> SmsMessage:
    with database.transaction() as session:
        return session.get(SmsMessage, sms_id)


def report(database, core, message_id, status, *, failure_reason=None) -> str:
    form = {"id": message_id, "status": status, "phoneNumber": AT_BUYER, "networkCode": "63902"}
    if failure_reason:
        form["failureReason"] = failure_reason
    parsed = parse_delivery_report(form)
    with database.transaction() as session:
        return record_delivery_report(session, core, message_id=parsed.message_id, status=parsed.status,
                                      final=parsed.final, delivered=parsed.delivered,
                                      failure_reason=parsed.failure_reason)


def inbound(database, core, text, *, message_id="ATXid_in_1", from_phone=AT_BUYER) -> str:
    with database.transaction() as session:
        return record_inbound_sms(session, core, message_id=message_id, from_phone=from_phone, text=text)


def replies(database, core, phone=BUYER) -> list[SmsMessage]:
    with database.transaction() as session:
        return list(session.scalars(select(SmsMessage).where(SmsMessage.recipient_key == core.vault.phone_key(phone))
                                    .order_by(SmsMessage.id)))


def profile(database, core, phone=BUYER) -> Profile | None:
    with database.transaction() as session:
        return session.get(Profile, core.vault.phone_key(phone))


def set_language(database, core, language, phone=BUYER):
    with database.transaction() as session:
        session.add(Profile(phone_key=core.vault.phone_key(phone), language=language))


# --- delivery reports --------------------------------------------------------------------------

def test_a_delivery_report_is_applied_once_and_a_repeat_changes_nothing(database, core):
    sent = sent_message(database, core)
    assert (sent.status, sent.provider_status) == ("sent", "Success")  # AT's answer to the send

    assert report(database, core, sent.provider_message_id, "Success") == "updated"
    delivered = message(database, sent.id)
    assert report(database, core, sent.provider_message_id, "Success") == "duplicate"

    assert (delivered.status, delivered.provider_status) == ("delivered", "Success")
    again = message(database, sent.id)
    assert (again.status, again.provider_status, again.updated_at) == (
        "delivered", "Success", delivered.updated_at)


def test_a_final_failure_is_undelivered_and_keeps_ats_reason(database, core):
    sent = sent_message(database, core)

    assert report(database, core, sent.provider_message_id, "Failed",
                  failure_reason="UserInBlackList") == "updated"

    failed = message(database, sent.id)
    assert (failed.status, failed.provider_status) == ("undelivered", "Failed:UserInBlackList")


def test_a_long_status_and_reason_keep_the_reason_within_the_column(database, core):
    sent = sent_message(database, core)

    assert report(database, core, sent.provider_message_id, "Rejected",
                  failure_reason="UserNotSubscribedToProduct") == "updated"

    assert message(database, sent.id).provider_status == "UserNotSubscribedToProduct"


@pytest.mark.parametrize("final, late", [("Success", "Buffered"), ("Failed", "Sent"), ("Success", "Failed"),
                                         ("Expired", "Success")])
def test_a_final_status_is_never_overwritten_by_a_later_report(database, core, final, late):
    sent = sent_message(database, core)
    report(database, core, sent.provider_message_id, final)
    settled = message(database, sent.id)

    assert report(database, core, sent.provider_message_id, late) == "duplicate"

    after = message(database, sent.id)
    assert (after.status, after.provider_status) == (settled.status, settled.provider_status)
    assert after.status in ("delivered", "undelivered")


def test_interim_reports_only_move_forward_and_leave_the_message_sent(database, core):
    sent = sent_message(database, core)

    assert report(database, core, sent.provider_message_id, "Submitted") == "updated"
    assert report(database, core, sent.provider_message_id, "Buffered") == "updated"
    assert report(database, core, sent.provider_message_id, "Sent") == "duplicate"
    assert report(database, core, sent.provider_message_id, "Buffered") == "duplicate"

    buffered = message(database, sent.id)
    assert (buffered.status, buffered.provider_status) == ("sent", "Buffered")
    assert report(database, core, sent.provider_message_id, "Success") == "updated"
    assert message(database, sent.id).status == "delivered"


def test_a_report_for_a_message_we_never_sent_is_unknown(database, core):
    sent_message(database, core)

    assert report(database, core, "ATXid_not_ours", "Success") == "unknown"

    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(SmsMessage)
                              .where(SmsMessage.status == "delivered")) == 0


def test_a_delivered_message_is_never_sent_again_by_the_worker(database, core):
    sender = FakeSmsSender()
    sent = sent_message(database, core, sender)
    report(database, core, sent.provider_message_id, "Success")

    assert send_sms(database, core, sender, sent.id) == "delivered"
    assert len(sender.sent) == 1


# --- texts to our short code -------------------------------------------------------------------

@pytest.mark.parametrize("text", ["HELP", "help", "  Help \n", "MSAADA", " msaada "])
def test_help_queues_the_help_text_with_paybill_fee_and_support_number(database, core, text):
    assert inbound(database, core, text) == "help"

    [reply] = replies(database, core)
    body = core.vault.unseal(reply.body_sealed)
    assert (reply.kind, reply.order_id, reply.status) == ("help", None, "queued")
    assert core.paybill in body and core.support_phone in body and "1.5%" in body
    assert body == reply.body_redacted  # nothing secret in it
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == "sms", OutboxItem.subject_id == reply.id)) == 1


@pytest.mark.parametrize("known_language, word, expected", [
    ("sw", "HELP", "sw"),     # the sender's chosen language wins
    ("en", "MSAADA", "en"),
    (None, "MSAADA", "sw"),   # no profile yet: the language they wrote in
    (None, "HELP", "en"),
])
def test_help_is_answered_in_the_senders_language(database, core, known_language, word, expected):
    if known_language:
        set_language(database, core, known_language)

    inbound(database, core, word)

    [reply] = replies(database, core)
    assert reply.language == expected
    body = core.vault.unseal(reply.body_sealed)
    assert ("Msaada:" in body) == (expected == "sw")
    assert ("muuzaji analipa" in body) == (expected == "sw")  # the fee payer, in the same language


@pytest.mark.parametrize("word", ["STOP", "stop", " Acha "])
def test_stop_turns_reminders_off_and_confirms(database, core, word):
    assert inbound(database, core, word) == "stopped"

    assert profile(database, core).reminders_off is True
    [reply] = replies(database, core)
    assert reply.kind == "stopped"


def test_stop_keeps_an_existing_profiles_language(database, core):
    set_language(database, core, "sw")

    inbound(database, core, "STOP")

    assert (profile(database, core).language, profile(database, core).reminders_off) == ("sw", True)
    assert replies(database, core)[0].language == "sw"


def test_ats_retries_of_the_same_stop_change_nothing_and_reply_once(database, core):
    assert inbound(database, core, "STOP", message_id="ATXid_in_7") == "stopped"
    assert inbound(database, core, "STOP", message_id="ATXid_in_7") == "duplicate"
    assert inbound(database, core, "HELP", message_id="ATXid_in_7") == "duplicate"

    assert [reply.kind for reply in replies(database, core)] == ["stopped"]
    assert profile(database, core).reminders_off is True
    assert inbound(database, core, "STOP", message_id="ATXid_in_8") == "stopped"  # a new text is a new text
    assert len(replies(database, core)) == 2


def test_a_retry_arriving_while_the_first_is_still_open_waits_and_is_a_duplicate(database, core):
    outcomes = {}
    with database.transaction() as session:
        outcomes["first"] = record_inbound_sms(session, core, message_id="ATXid_in_9", from_phone=AT_BUYER,
                                               text="STOP")
        retry = threading.Thread(target=lambda: outcomes.update(retry=inbound(database, core, "STOP",
                                                                              message_id="ATXid_in_9")))
        retry.start()
        retry.join(timeout=0.5)
        assert retry.is_alive()  # held by the first transaction's marker (or SQLite's write lock)
    retry.join(timeout=10)

    assert outcomes == {"first": "stopped", "retry": "duplicate"}
    assert len(replies(database, core)) == 1


@pytest.mark.parametrize("text", ["", "Hello", "STOP please", "HELP!", "1"])
def test_other_texts_are_ignored(database, core, text):
    assert inbound(database, core, text) == "ignored"

    assert replies(database, core) == [] and profile(database, core) is None


def test_a_text_from_a_number_we_cannot_reply_to_is_ignored(database, core):
    assert inbound(database, core, "STOP", from_phone="+447700900123") == "ignored"

    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(SmsMessage)) == 0


def test_the_service_applies_a_stored_callback_once_and_marks_each_arrival(database, core):
    service = EscrowService(database, core)
    form = {"id": "ATXid_in_11", "from": AT_BUYER, "to": "23456", "text": "MSAADA", "date": "2026-11-23 10:00:00"}
    ids = [service.store_callback(source="sms_inbound", body=b"id=ATXid_in_11&text=MSAADA", remote_addr="10.0.0.1")
           for _ in range(2)]

    outcomes = [service.record_inbound_sms(parse_inbound_sms(form), callback_id) for callback_id in ids]

    assert outcomes == ["help", "duplicate"]
    with database.transaction() as session:
        statuses = [session.get(InboundCallback, callback_id).status for callback_id in ids]
    assert statuses == ["applied", "duplicate"]
    assert [reply.kind for reply in replies(database, core)] == ["help"]
