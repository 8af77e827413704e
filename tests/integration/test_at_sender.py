"""The SMS sender through the real africastalking SDK, against the local AT double over HTTP."""
import re
import threading
import time

import pytest
from africastalking.SMS import SMSService
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sms.at_double import AtDoubleServer, create_at_double
from sms.at_sender import AfricasTalkingSmsSender
from sms.errors import SmsSendError
from sms.results import parse_delivery_report, parse_inbound_sms

USERNAME, API_KEY = "zemi", "test-key"
BUYER = "+254712345678"
SELLER = "+254722000111"


@pytest.fixture
def at_double():
    with AtDoubleServer({"username": USERNAME, "api_key": API_KEY}) as server:
        yield server


@pytest.fixture
def sender(at_double):
    return AfricasTalkingSmsSender(USERNAME, API_KEY, sender_id="ZEMI",
                                   api_base_url=at_double.base_url)


class FormReceiver:
    """Our service's callback endpoint, reduced to: record each posted form, answer 200."""

    def __init__(self):
        self.forms = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/sms/callback"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def _app(self, environ, start_response):
        request = Request(environ)
        self.forms.append(request.form.to_dict())
        return Response("", 200)(environ, start_response)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    server = FormReceiver()
    yield server
    server.stop()


def test_a_send_is_queued_and_the_double_sees_ats_form_and_api_key(sender, at_double):
    outcome = sender.send("0712 345 678", "Your delivery code is 4821")

    assert outcome.accepted and not outcome.retryable
    assert (outcome.phone, outcome.status_code, outcome.status) == (BUYER, 102, "Success")
    assert re.fullmatch(r"ATXid_[0-9a-f]{32}", outcome.message_id)
    assert outcome.cost == "KES 0.8000"
    [seen] = at_double.messages()
    assert seen == {"to": BUYER, "message": "Your delivery code is 4821", "from": "ZEMI",
                    "message_id": outcome.message_id, "status_code": 102, "username": USERNAME,
                    "enqueue": "1", "bulk_sms_mode": "1", "api_key": API_KEY}


@pytest.mark.parametrize("status_code, status, retryable", [
    (403, "InvalidPhoneNumber", False),
    (406, "UserInBlacklist", False),
    (500, "InternalServerError", True),
    (405, "InsufficientBalance", True),
    (401, "RiskHold", True),
])
def test_a_refused_recipient_is_classified_retryable_or_permanent(
        sender, at_double, status_code, status, retryable):
    at_double.fail_number(BUYER, status_code)

    outcome = sender.send(BUYER, "hello")

    assert not outcome.accepted
    assert (outcome.status_code, outcome.status) == (status_code, status)
    assert outcome.retryable is retryable
    assert outcome.message_id is None


def test_a_number_failed_for_the_next_send_only_is_accepted_after(sender, at_double):
    at_double.fail_number(BUYER, 500, times=1)

    first, second = sender.send(BUYER, "one"), sender.send(BUYER, "two")

    assert (first.accepted, first.retryable, second.accepted) == (False, True, True)


@pytest.mark.parametrize("api_key, forced_status", [("wrong-key", None), (API_KEY, 401)])
def test_rejected_authentication_is_a_permanent_send_error(at_double, api_key, forced_status):
    at_double.fail_requests(forced_status)
    sender = AfricasTalkingSmsSender(USERNAME, api_key, api_base_url=at_double.base_url)

    with pytest.raises(SmsSendError) as caught:
        sender.send(BUYER, "hello")

    assert (caught.value.http_status, caught.value.retryable) == (401, False)
    assert "authentication" in caught.value.detail and api_key not in caught.value.detail
    assert at_double.messages() == []


def test_a_server_error_for_the_whole_request_is_retryable(sender, at_double):
    at_double.fail_requests(503)

    with pytest.raises(SmsSendError) as caught:
        sender.send(BUYER, "hello")

    assert (caught.value.http_status, caught.value.retryable, caught.value.ambiguous) == (
        503, True, False)


def test_a_read_timeout_is_retryable_but_ambiguous(at_double):
    at_double.delay(3)
    sender = AfricasTalkingSmsSender(USERNAME, API_KEY, api_base_url=at_double.base_url,
                                     timeout=(1.0, 0.3))
    started = time.monotonic()

    with pytest.raises(SmsSendError) as caught:
        sender.send(BUYER, "hello")

    assert time.monotonic() - started < 2
    assert (caught.value.retryable, caught.value.ambiguous, caught.value.http_status) == (
        True, True, None)


def test_a_refused_connection_is_retryable_and_surely_not_sent():
    with AtDoubleServer() as gone:
        dead_url = gone.base_url
    sender = AfricasTalkingSmsSender(USERNAME, API_KEY, api_base_url=dead_url)

    with pytest.raises(SmsSendError) as caught:
        sender.send(BUYER, "hello")

    assert (caught.value.retryable, caught.value.ambiguous) == (True, False)


def test_an_invalid_sender_id_answer_with_no_recipients_is_permanent(at_double):
    at_double.add_bad_sender("NOTOURS")
    sender = AfricasTalkingSmsSender(USERNAME, API_KEY, sender_id="NOTOURS",
                                     api_base_url=at_double.base_url)

    with pytest.raises(SmsSendError) as caught:
        sender.send(BUYER, "hello")

    assert (caught.value.http_status, caught.value.retryable) == (201, False)
    assert "InvalidSenderId" in caught.value.detail


@pytest.mark.parametrize("content_type, sdk_answer_type", [
    ("application/json", dict),
    ("application/json; charset=utf-8", str),
])
def test_a_send_is_read_whether_the_sdk_hands_back_a_dict_or_a_string(
        sender, at_double, content_type, sdk_answer_type):
    at_double.set_content_type(content_type)
    bare_sdk = SMSService(USERNAME, API_KEY)
    bare_sdk._baseUrl = at_double.base_url + "/version1"

    assert isinstance(bare_sdk.send("probe", [SELLER]), sdk_answer_type)
    assert sender.send(BUYER, "hello").accepted


def test_delivery_reports_reach_our_endpoint_with_ats_form_fields(sender, at_double, receiver):
    delivered = sender.send(BUYER, "paid")
    failed = sender.send(SELLER, "ship it")

    assert at_double.post_delivery_reports(receiver.url, only=[delivered.message_id]) == [200]
    assert at_double.post_delivery_reports(receiver.url, status="Failed",
                                           failure_reason="NotNetworkSubcriber",
                                           only=[SELLER]) == [200]

    success_form, failed_form = receiver.forms
    assert success_form == {"id": delivered.message_id, "status": "Success",
                            "phoneNumber": BUYER, "networkCode": "63902", "retryCount": "0"}
    assert failed_form["failureReason"] == "NotNetworkSubcriber"
    report = parse_delivery_report(failed_form)
    assert (report.message_id, report.final, report.delivered) == (failed.message_id, True, False)


def test_an_incoming_message_reaches_our_endpoint_with_ats_form_fields(at_double, receiver):
    assert at_double.post_inbound(receiver.url, "0712345678", "STOP", to="23456") == 200

    [form] = receiver.forms
    assert set(form) == {"date", "from", "id", "linkId", "text", "to", "networkCode"}
    inbound = parse_inbound_sms(form)
    assert (inbound.from_phone, inbound.text, inbound.to) == (BUYER, "STOP", "23456")


def test_the_balance_and_control_api_answer_over_http():
    client = create_at_double({"api_key": API_KEY}).test_client()

    balance = client.get("/version1/user?username=zemi", headers={"apiKey": API_KEY})
    client.post("/_double/fail_number", json={"number": "0712345678", "status_code": 406})
    client.post("/version1/messaging", headers={"apiKey": API_KEY},
                data={"username": "zemi", "to": BUYER, "message": "hi"})

    assert balance.content_type == "application/json"
    assert balance.get_json() == {"UserData": {"balance": "KES 1000.00"}}
    [seen] = client.get("/_double/messages").get_json()["messages"]
    assert (seen["status_code"], seen["message_id"]) == (406, None)


def test_the_log_masks_the_number_and_never_holds_the_text_or_api_key(sender, at_double, caplog):
    caplog.set_level("DEBUG")
    sender.send(BUYER, "Your delivery code is 4821")
    at_double.fail_requests(503)
    with pytest.raises(SmsSendError):
        sender.send(BUYER, "Your delivery code is 4821")

    assert "0712***678" in caplog.text
    assert "4821" not in caplog.text and API_KEY not in caplog.text and BUYER not in caplog.text
