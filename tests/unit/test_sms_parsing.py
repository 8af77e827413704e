"""Reading AT's delivery reports, incoming messages and per-recipient answers."""
import pytest

from sms.errors import MalformedReport
from sms.results import (is_retryable_code, outcome_from_recipient, parse_delivery_report,
                         parse_inbound_sms)

MESSAGE_ID = "ATXid_af55810d4d7c07ed9ad5f887096487ea"


def report_form(**fields):
    form = {"id": MESSAGE_ID, "status": "Success", "phoneNumber": "+254712345678",
            "networkCode": "63902", "retryCount": "0"}
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def test_a_success_report_is_final_and_delivered_with_snake_case_fields():
    report = parse_delivery_report(report_form())

    assert (report.message_id, report.status, report.final, report.delivered) == (
        MESSAGE_ID, "Success", True, True)
    assert (report.phone, report.network_code, report.retry_count, report.failure_reason) == (
        "+254712345678", "63902", 0, None)


@pytest.mark.parametrize("status", ["Sent", "Submitted", "Buffered", "SomethingNew"])
def test_pending_and_unknown_statuses_are_not_final(status):
    report = parse_delivery_report(report_form(status=status))

    assert (report.final, report.delivered) == (False, False)


@pytest.mark.parametrize("status", ["Failed", "Rejected", "AbsentSubscriber", "Expired"])
def test_failure_statuses_are_final_and_not_delivered(status):
    report = parse_delivery_report(report_form(status=status, failureReason="DeliveryFailure"))

    assert (report.final, report.delivered, report.failure_reason) == (
        True, False, "DeliveryFailure")


@pytest.mark.parametrize("spelling", ["NotNetworkSubcriber", "NotNetworkSubscriber"])
def test_both_spellings_of_not_network_subscriber_read_the_same(spelling):
    report = parse_delivery_report(report_form(status="Failed", failureReason=spelling))

    assert report.failure_reason == "NotNetworkSubscriber"


@pytest.mark.parametrize("fields", [{"id": None}, {"id": "  "}, {"status": None}])
def test_a_report_without_id_or_status_is_malformed(fields):
    with pytest.raises(MalformedReport):
        parse_delivery_report(report_form(**fields))


def test_missing_optional_report_fields_read_as_none():
    report = parse_delivery_report({"id": MESSAGE_ID, "status": "Buffered", "retryCount": "x"})

    assert (report.phone, report.network_code, report.retry_count) == (None, None, None)


def inbound_form(**fields):
    form = {"date": "2018-03-19T08:34:18.445Z", "from": "+254712345678", "id": "msg-1",
            "linkId": "link-1", "text": "HELP", "to": "12345", "networkCode": "63902"}
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def test_an_incoming_message_is_read_into_snake_case_fields():
    inbound = parse_inbound_sms(inbound_form())

    assert inbound.message_id == "msg-1" and inbound.from_phone == "+254712345678"
    assert (inbound.to, inbound.text, inbound.received_at_text, inbound.link_id,
            inbound.network_code) == ("12345", "HELP", "2018-03-19T08:34:18.445Z", "link-1",
                                      "63902")


def test_an_incoming_message_keeps_a_foreign_sender_and_reads_empty_link_id_as_none():
    inbound = parse_inbound_sms(inbound_form(**{"from": "+447700900123", "linkId": ""}))

    assert (inbound.from_phone, inbound.link_id) == ("+447700900123", None)


@pytest.mark.parametrize("missing", ["id", "from"])
def test_an_incoming_message_without_id_or_sender_is_malformed(missing):
    with pytest.raises(MalformedReport):
        parse_inbound_sms(inbound_form(**{missing: None}))


@pytest.mark.parametrize("code, retryable", [
    (401, True), (405, True), (500, True), (501, True), (502, True), (503, True),
    (402, False), (403, False), (404, False), (406, False), (407, False), (409, False),
    (None, False),
])
def test_refusal_codes_are_split_into_retryable_and_permanent(code, retryable):
    assert is_retryable_code(code) is retryable


def test_a_refused_recipient_has_no_message_id_and_keeps_ats_status():
    outcome = outcome_from_recipient({"statusCode": "406", "number": "+254712345678",
                                      "status": "UserInBlacklist", "cost": "0",
                                      "messageId": "None"}, "+254712345678")

    assert (outcome.accepted, outcome.retryable, outcome.status_code, outcome.message_id) == (
        False, False, 406, None)
    assert (outcome.status, outcome.cost) == ("UserInBlacklist", "0")
