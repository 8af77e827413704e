"""The core's SmsSender port: AtSmsSender through the real SDK against the AT double, and the console."""
import re

import pytest

from escrow.ports import SmsError, SmsReceipt
from sms.at_double import AtDoubleServer
from sms.senders import AtSmsSender, ConsoleSmsSender

USERNAME, API_KEY = "zemi", "test-key"
BUYER = "+254712345678"


@pytest.fixture
def at_double():
    with AtDoubleServer({"username": USERNAME, "api_key": API_KEY}) as server:
        yield server


@pytest.fixture
def sender(at_double):
    return AtSmsSender(username=USERNAME, api_key=API_KEY, sender_id="ZEMI", api_base_url=at_double.base_url)


def test_an_accepted_send_is_a_receipt_with_ats_message_id_and_cost(sender, at_double):
    receipt = sender.send("0712345678", "Zemi: hello")

    assert isinstance(receipt, SmsReceipt)
    assert (receipt.accepted, receipt.retryable, receipt.status, receipt.cost) == (True, False, "Success", "KES 0.8000")
    assert re.fullmatch(r"ATXid_[0-9a-f]{32}", receipt.message_id)
    [seen] = at_double.messages()
    assert (seen["to"], seen["message"], seen["message_id"]) == (BUYER, "Zemi: hello", receipt.message_id)


@pytest.mark.parametrize("status_code, status, retryable", [
    (406, "UserInBlacklist", False),
    (403, "InvalidPhoneNumber", False),
    (500, "InternalServerError", True),
    (405, "InsufficientBalance", True),
])
def test_a_refused_recipient_is_a_receipt_saying_whether_to_retry(sender, at_double, status_code, status, retryable):
    at_double.fail_number(BUYER, status_code)

    receipt = sender.send(BUYER, "hello")

    assert (receipt.accepted, receipt.retryable, receipt.status, receipt.message_id) == (
        False, retryable, status, None)


def test_rejected_authentication_is_a_permanent_error(at_double):
    sender = AtSmsSender(username=USERNAME, api_key="wrong-key", api_base_url=at_double.base_url)

    with pytest.raises(SmsError) as caught:
        sender.send(BUYER, "hello")

    assert (caught.value.retryable, caught.value.ambiguous) == (False, False)
    assert "wrong-key" not in str(caught.value)


def test_a_server_error_for_the_whole_request_is_retryable_and_not_ambiguous(sender, at_double):
    at_double.fail_requests(503)

    with pytest.raises(SmsError) as caught:
        sender.send(BUYER, "hello")

    assert (caught.value.retryable, caught.value.ambiguous) == (True, False)


def test_a_read_timeout_is_retryable_but_ambiguous(at_double):
    at_double.delay(3)
    sender = AtSmsSender(username=USERNAME, api_key=API_KEY, api_base_url=at_double.base_url, timeout=(1.0, 0.3))

    with pytest.raises(SmsError) as caught:
        sender.send(BUYER, "hello")

    assert (caught.value.retryable, caught.value.ambiguous) == (True, True)


def test_a_refused_connection_is_retryable_and_surely_not_sent():
    with AtDoubleServer() as gone:
        dead_url = gone.base_url
    sender = AtSmsSender(username=USERNAME, api_key=API_KEY, api_base_url=dead_url)

    with pytest.raises(SmsError) as caught:
        sender.send(BUYER, "hello")

    assert (caught.value.retryable, caught.value.ambiguous) == (True, False)


def test_an_invalid_sender_id_is_a_permanent_error(at_double):
    at_double.add_bad_sender("NOTOURS")
    sender = AtSmsSender(username=USERNAME, api_key=API_KEY, sender_id="NOTOURS", api_base_url=at_double.base_url)

    with pytest.raises(SmsError) as caught:
        sender.send(BUYER, "hello")

    assert caught.value.retryable is False and "InvalidSenderId" in str(caught.value)


@pytest.mark.parametrize("number", ["+447700900123", "12345", ""])
def test_a_number_that_is_not_a_kenyan_mobile_is_a_permanent_error_and_nothing_is_sent(sender, at_double, number):
    with pytest.raises(SmsError) as caught:
        sender.send(number, "hello")

    assert caught.value.retryable is False
    assert at_double.messages() == []


def test_the_console_sender_records_and_sends_nothing(caplog):
    caplog.set_level("DEBUG")

    first = ConsoleSmsSender().send("0712345678", "Zemi: your code is 482913")
    second = ConsoleSmsSender().send("0712345678", "Zemi: your code is 482913")

    assert (first.accepted, first.retryable, first.status) == (True, False, "recorded")
    assert re.fullmatch(r"console-[0-9a-f]{32}", first.message_id) and first.message_id != second.message_id
    assert "482913" not in caplog.text and "0712345678" not in caplog.text
