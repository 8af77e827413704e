"""The Daraja simulator over raw HTTP: each scenario posts Daraja's exact shapes and quirks."""
import base64
import datetime as dt
import hashlib
import re
import time

import pytest
import requests

from mpesa.results import (parse_b2c_result, parse_b2c_timeout, parse_c2b, parse_stk_callback,
                           parse_transaction_status_result)
from mpesa.simulator import SimulatorServer
from tests.integration.test_daraja_client import SANDBOX_PASSKEY, CallbackReceiver

PHONE = "254708374149"
EAT = dt.timezone(dt.timedelta(hours=3))
RECEIPT = re.compile(r"^[A-Z][A-Z0-9]{9}$")
STK_FAILURES = {"insufficient_funds": 1, "cancelled": 1032, "unreachable": 1037, "wrong_pin": 2001,
                "busy": 1001, "rule_limited": 17, "expired": 1019}


@pytest.fixture
def sim():
    with SimulatorServer({"callback_delay": 0.05, "late_delay": 0.6}) as server:
        yield server


@pytest.fixture
def receiver():
    with CallbackReceiver({"/c2b/reject": {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}}
                          ) as server:
        yield server


@pytest.fixture
def token(sim):
    answer = requests.get(f"{sim.base_url}/oauth/v1/generate",
                          params={"grant_type": "client_credentials"}, auth=("sim-key", "sim-secret"))
    return answer.json()["access_token"]


def call(sim, path, body, token):
    return requests.post(sim.base_url + path, json=body, headers={"Authorization": f"Bearer {token}"})


def stk_credentials(shortcode="174379"):
    timestamp = dt.datetime.now(EAT).strftime("%Y%m%d%H%M%S")
    password = base64.b64encode(f"{shortcode}{SANDBOX_PASSKEY}{timestamp}".encode()).decode()
    return {"BusinessShortCode": shortcode, "Password": password, "Timestamp": timestamp}


def stk_body(receiver, **overrides):
    body = {**stk_credentials(), "TransactionType": "CustomerPayBillOnline", "Amount": 10,
            "PartyA": PHONE, "PartyB": "174379", "PhoneNumber": PHONE,
            "CallBackURL": receiver.url("/stk"), "AccountReference": "ORD42",
            "TransactionDesc": "Escrow"}
    return {**body, **overrides}


def stk_push(sim, receiver, token, **overrides):
    answer = call(sim, "/mpesa/stkpush/v1/processrequest", stk_body(receiver, **overrides), token)
    assert answer.status_code == 200, answer.text
    return answer.json()


def stk_query(sim, token, checkout_request_id, version="v1"):
    return call(sim, f"/mpesa/stkpushquery/{version}/query",
                {**stk_credentials(), "CheckoutRequestID": checkout_request_id}, token)


def b2c_body(receiver, originator="oc-1", **overrides):
    body = {"OriginatorConversationID": originator, "InitiatorName": "testapi",
            "SecurityCredential": "Y3JlZA==", "CommandID": "BusinessPayment", "Amount": "10",
            "PartyA": "600992", "PartyB": PHONE, "Remarks": "payout",
            "QueueTimeOutURL": receiver.url("/b2c/timeout"), "ResultURL": receiver.url("/b2c/result"),
            "Occassion": "order"}
    return {**body, **overrides}


def status_query(sim, receiver, token, **identifiers):
    body = {"Initiator": "testapi", "SecurityCredential": "Y3JlZA==",
            "CommandID": "TransactionStatusQuery", "PartyA": "600992", "IdentifierType": "4",
            "ResultURL": receiver.url("/status"), "QueueTimeOutURL": receiver.url("/status/to"),
            "Remarks": "check", "Occasion": "check", **identifiers}
    return call(sim, "/mpesa/transactionstatus/v1/query", body, token)


def test_oauth_answers_expires_in_as_a_string_and_checks_credentials(sim):
    url = f"{sim.base_url}/oauth/v1/generate"
    good = requests.get(url, params={"grant_type": "client_credentials"}, auth=("sim-key", "sim-secret"))
    bad = requests.get(url, params={"grant_type": "client_credentials"}, auth=("sim-key", "nope"))
    wrong_grant = requests.get(url, params={"grant_type": "password"}, auth=("sim-key", "sim-secret"))
    assert good.json()["expires_in"] == "3599" and good.json()["access_token"]
    assert (bad.status_code, bad.json()["errorCode"]) == (400, "400.008.01")
    assert wrong_grant.json()["errorCode"] == "400.008.02"


def test_successful_stk_callback_has_daraja_shape(sim, receiver, token):
    accepted = stk_push(sim, receiver, token, Amount="25")
    assert accepted["ResponseCode"] == "0" and accepted["CheckoutRequestID"].startswith("ws_CO_")
    callback = receiver.wait_for("/stk")[0]["Body"]["stkCallback"]
    assert callback["ResultCode"] == 0 and callback["CheckoutRequestID"] == accepted["CheckoutRequestID"]
    items = callback["CallbackMetadata"]["Item"]
    assert [i["Name"] for i in items] == ["Amount", "MpesaReceiptNumber", "Balance",
                                          "TransactionDate", "PhoneNumber"]
    values = {i["Name"]: i.get("Value") for i in items}
    assert "Value" not in items[2]
    assert values["Amount"] == 25.0 and isinstance(values["Amount"], float)
    assert RECEIPT.match(values["MpesaReceiptNumber"])
    assert isinstance(values["TransactionDate"], int) and len(str(values["TransactionDate"])) == 14
    assert values["PhoneNumber"] == int(PHONE)


@pytest.mark.parametrize("scenario,code", sorted(STK_FAILURES.items()))
def test_failed_stk_scenarios_post_the_code_without_metadata(sim, receiver, token, scenario, code):
    sim.set_scenario(PHONE, scenario)
    accepted = stk_push(sim, receiver, token)
    callback = receiver.wait_for("/stk")[0]["Body"]["stkCallback"]
    assert set(callback) == {"MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc"}
    assert callback["ResultCode"] == code and callback["ResultDesc"]
    assert stk_query(sim, token, accepted["CheckoutRequestID"]).json()["ResultCode"] == str(code)
    assert parse_stk_callback({"Body": {"stkCallback": callback}}).result_code == str(code)


def test_late_callback_leaves_the_query_pending_until_it_arrives(sim, receiver, token):
    sim.set_scenario(PHONE, "late_callback")
    accepted = stk_push(sim, receiver, token)
    time.sleep(0.2)
    pending = stk_query(sim, token, accepted["CheckoutRequestID"])
    assert receiver.bodies("/stk") == []
    assert pending.status_code == 500
    assert pending.json()["errorCode"] == "500.001.1001"
    assert pending.json()["errorMessage"] == "The transaction is being processed"
    assert parse_stk_callback(receiver.wait_for("/stk")[0]).succeeded


def test_duplicate_callback_is_posted_twice_identically(sim, receiver, token):
    sim.set_scenario(PHONE, "duplicate_callback")
    stk_push(sim, receiver, token)
    assert sim.drain()
    first, second = receiver.wait_for("/stk", count=2)
    assert first == second


def test_no_callback_posts_nothing_but_the_query_knows_the_result(sim, receiver, token):
    sim.set_scenario(PHONE, "no_callback")
    accepted = stk_push(sim, receiver, token)
    assert sim.drain()
    time.sleep(0.1)
    final = stk_query(sim, token, accepted["CheckoutRequestID"], version="v2").json()
    assert receiver.bodies("/stk") == []
    assert (final["ResultCode"], final["ResponseCode"]) == ("0", "0")
    assert final["ResponseDescription"] == "The service request has been accepted successsfully"


def test_wrong_amount_scenario_reports_one_shilling_less(sim, receiver, token):
    sim.set_scenario(PHONE, "wrong_amount")
    stk_push(sim, receiver, token, Amount=500)
    assert parse_stk_callback(receiver.wait_for("/stk")[0]).amount == 499


def test_scenario_set_through_the_control_api_applies_the_given_number_of_times(
        sim, receiver, token):
    answer = requests.post(f"{sim.base_url}/_sim/scenario",
                           json={"phone": "0708374149", "scenario": "cancelled", "times": 1})
    assert answer.status_code == 200
    stk_push(sim, receiver, token)
    stk_push(sim, receiver, token)
    assert sim.drain()
    codes = sorted(b["Body"]["stkCallback"]["ResultCode"] for b in receiver.wait_for("/stk", 2))
    assert codes == [0, 1032]
    refused = requests.post(f"{sim.base_url}/_sim/scenario", json={"phone": PHONE, "scenario": "x"})
    assert refused.status_code == 400


def test_default_scenario_comes_from_config(receiver):
    with SimulatorServer({"callback_delay": 0.05, "default_scenario": "expired"}) as expiring:
        answer = requests.get(f"{expiring.base_url}/oauth/v1/generate",
                              params={"grant_type": "client_credentials"},
                              auth=("sim-key", "sim-secret"))
        stk_push(expiring, receiver, answer.json()["access_token"])
        assert receiver.wait_for("/stk")[0]["Body"]["stkCallback"]["ResultCode"] == 1019


@pytest.mark.parametrize("change,status,code,message", [
    ({"Password": "d3Jvbmc="}, 500, "500.001.1001", "Wrong credentials"),
    ({"BusinessShortCode": "999999"}, 500, "500.001.1001", "Merchant does not exist"),
    ({"Timestamp": "2021-06-28"}, 400, "400.002.02", "Bad Request - Invalid Timestamp"),
    ({"Amount": "1.5"}, 400, "400.002.02", "Bad Request - Invalid Amount"),
    ({"Amount": 0}, 400, "400.002.02", "Bad Request - Invalid Amount"),
    ({"PhoneNumber": "0708374149"}, 400, "400.002.02", "Bad Request - Invalid PhoneNumber"),
    ({"CallBackURL": "https://zemi.example.com/M-Pesa/cb"}, 400, "400.002.02",
     "Bad Request - Invalid CallBackURL"),
    ({"AccountReference": "A" * 13}, 400, "400.002.02", "Bad Request - Invalid AccountReference"),
    ({"TransactionDesc": "D" * 14}, 400, "400.002.02", "Bad Request - Invalid TransactionDesc"),
])
def test_bad_stk_requests_get_daraja_error_envelopes(sim, receiver, token, change, status, code,
                                                     message):
    answer = call(sim, "/mpesa/stkpush/v1/processrequest", stk_body(receiver, **change), token)
    body = answer.json()
    assert (answer.status_code, body["errorCode"], body["errorMessage"]) == (status, code, message)
    assert body["requestId"]


def test_bad_token_and_form_encoded_body_are_refused_like_daraja(sim, receiver, token):
    path = "/mpesa/stkpush/v1/processrequest"
    no_token = call(sim, path, stk_body(receiver), "not-a-token")
    as_form = requests.post(sim.base_url + path, data=stk_body(receiver),
                            headers={"Authorization": f"Bearer {token}"})
    assert no_token.json()["errorCode"] == "404.001.03"
    assert as_form.json()["errorMessage"] == "Bad Request - Invalid BusinessShortCode"


def test_receipts_are_unique_and_daraja_shaped(sim, receiver, token):
    for _ in range(8):
        stk_push(sim, receiver, token)
    receipts = [parse_stk_callback(b).receipt for b in receiver.wait_for("/stk", count=8)]
    assert len(set(receipts)) == 8 and all(RECEIPT.match(r) for r in receipts)


def test_b2c_success_result_has_daraja_shape(sim, receiver, token):
    answer = call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver), token).json()
    assert answer["ResponseCode"] == "0" and answer["ConversationID"].startswith("AG_")
    result = receiver.wait_for("/b2c/result")[0]["Result"]
    assert (result["ResultType"], result["ResultCode"]) == (0, 0)
    assert result["OriginatorConversationID"] == "oc-1"
    params = {p["Key"]: p["Value"] for p in result["ResultParameters"]["ResultParameter"]}
    assert params["TransactionAmount"] == 10 and params["TransactionReceipt"] == result["TransactionID"]
    assert params["ReceiverPartyPublicName"] == f"{PHONE} - JOHN DOE"
    assert re.match(r"^\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d$", params["TransactionCompletedDateTime"])
    assert result["ReferenceData"]["ReferenceItem"]["Key"] == "QueueTimeoutURL"
    assert parse_b2c_result({"Result": result}).amount == 10


def test_b2c_failure_result_has_no_parameters(sim, receiver, token):
    sim.set_scenario(PHONE, "b2c_failure")
    call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver), token)
    result = receiver.wait_for("/b2c/result")[0]["Result"]
    assert result["ResultCode"] == 2001 and "ResultParameters" not in result
    assert result["TransactionID"]


def test_b2c_with_a_wrong_initiator_fails_with_2001(sim, receiver, token):
    call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, InitiatorName="intruder"), token)
    assert receiver.wait_for("/b2c/result")[0]["Result"]["ResultCode"] == 2001


def test_b2c_queue_timeout_comes_first_then_the_success_result(sim, receiver, token):
    sim.set_scenario(PHONE, "b2c_queue_timeout_then_success")
    call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, originator="oc-q"), token)
    notice = parse_b2c_timeout(receiver.wait_for("/b2c/timeout")[0])
    assert notice.originator_conversation_id == "oc-q" and receiver.bodies("/b2c/result") == []
    assert parse_b2c_result(receiver.wait_for("/b2c/result")[0]).succeeded
    assert [path for path, _ in receiver.received] == ["/b2c/timeout", "/b2c/result"]


def test_b2c_no_result_is_revealed_by_a_transaction_status_query(sim, receiver, token):
    sim.set_scenario(PHONE, "b2c_no_result")
    call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, originator="oc-lost"), token)
    time.sleep(0.1)
    accepted = status_query(sim, receiver, token, OriginalConversationID="oc-lost").json()
    assert accepted["ResponseCode"] == "0"
    result = receiver.wait_for("/status")[0]["Result"]
    params = {p["Key"]: p.get("Value") for p in result["ResultParameters"]["ResultParameter"]}
    assert params["OriginatorConversationID"] == "oc-lost"
    assert params["TransactionStatus"] == "Completed" and RECEIPT.match(params["ReceiptNo"])
    assert result["OriginatorConversationID"] == accepted["OriginatorConversationID"]
    assert parse_transaction_status_result({"Result": result}).amount == 10
    assert receiver.bodies("/b2c/result") == []


def test_b2c_retryable_failure_fails_once_with_17_then_the_next_originator_id_is_paid(sim, receiver, token):
    sim.set_scenario(PHONE, "b2c_retryable_failure")
    call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, originator="oc-r"), token)
    first = parse_b2c_result(receiver.wait_for("/b2c/result")[0])
    assert (first.result_code, first.originator_conversation_id, first.amount) == ("17", "oc-r", None)
    call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, originator="oc-r-2"), token)
    second = parse_b2c_result(receiver.wait_for("/b2c/result", 2)[1])
    assert second.succeeded and second.originator_conversation_id == "oc-r-2"


def test_a_failed_b2c_whose_result_is_lost_is_reported_failed_by_a_status_query(sim, receiver, token):
    sim.set_scenario(PHONE, "b2c_failure_no_result")
    call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, originator="oc-f"), token)
    time.sleep(0.1)
    status_query(sim, receiver, token, OriginalConversationID="oc-f")
    result = parse_transaction_status_result(receiver.wait_for("/status")[0])
    assert (result.result_code, result.transaction_status) == ("0", "Failed")
    assert result.queried_originator_conversation_id == "oc-f"
    assert receiver.bodies("/b2c/result") == []


def test_status_query_for_an_unknown_transaction_reports_failure(sim, receiver, token):
    status_query(sim, receiver, token, TransactionID="ZZZ0000000")
    result = parse_transaction_status_result(receiver.wait_for("/status")[0])
    assert result.result_code != "0" and result.transaction_status is None


def test_duplicate_b2c_originator_id_is_refused_and_v1_needs_none(sim, receiver, token):
    first = call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, originator="oc-d"), token)
    again = call(sim, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, originator="oc-d"), token)
    legacy = b2c_body(receiver)
    del legacy["OriginatorConversationID"]
    v1 = call(sim, "/mpesa/b2c/v1/paymentrequest", legacy, token)
    assert first.status_code == 200
    assert (again.status_code, again.json()["errorCode"]) == (500, "500.002.1001")
    assert v1.status_code == 200 and v1.json()["OriginatorConversationID"]


def test_c2b_register_answers_with_the_misspelled_originator_field(sim, receiver, token):
    answer = call(sim, "/mpesa/c2b/v1/registerurl",
                  {"ShortCode": "600984", "ResponseType": "Completed",
                   "ConfirmationURL": receiver.url("/c2b/confirm"),
                   "ValidationURL": receiver.url("/c2b/validate")}, token).json()
    assert answer["OriginatorCoversationID"] and answer["ResponseDescription"] == "Success"
    refused = call(sim, "/mpesa/c2b/v1/registerurl",
                   {"ShortCode": "600984", "ResponseType": "completed",
                    "ConfirmationURL": receiver.url("/c2b/confirm"),
                    "ValidationURL": receiver.url("/c2b/validate")}, token).json()
    assert refused["errorMessage"] == "Bad Request - Invalid ResponseType"


def _register(sim, receiver, token, version="v1", validation="/c2b/validate"):
    call(sim, f"/mpesa/c2b/{version}/registerurl",
         {"ShortCode": "600984", "ResponseType": "Completed",
          "ConfirmationURL": receiver.url("/c2b/confirm"), "ValidationURL": receiver.url(validation)},
         token)


def test_c2b_simulate_posts_validation_then_confirmation_with_masked_msisdn(sim, receiver, token):
    _register(sim, receiver, token)
    answer = call(sim, "/mpesa/c2b/v1/simulate",
                  {"ShortCode": 600984, "CommandID": "CustomerPayBillOnline", "Amount": 75,
                   "Msisdn": 254708374149, "BillRefNumber": "ZEMI42"}, token)
    assert answer.json()["ResponseCode"] == "0"
    confirmation = receiver.wait_for("/c2b/confirm")[0]
    validation = receiver.bodies("/c2b/validate")[0]
    assert [p for p, _ in receiver.received] == ["/c2b/validate", "/c2b/confirm"]
    assert validation["OrgAccountBalance"] == "" and confirmation["OrgAccountBalance"]
    assert confirmation["MSISDN"] == "2547 ***** 149" and confirmation["TransAmount"] == "75.00"
    assert confirmation["TransactionType"] == "Pay Bill"
    assert parse_c2b(confirmation).amount == 75 and validation["TransID"] == confirmation["TransID"]


def test_c2b_rejected_by_validation_is_never_confirmed(sim, receiver, token):
    _register(sim, receiver, token, validation="/c2b/reject")
    sim.pay_bill(PHONE, 100, "UNKNOWN")
    assert sim.drain()
    assert len(receiver.bodies("/c2b/reject")) == 1 and receiver.bodies("/c2b/confirm") == []


def test_c2b_v2_registration_sends_a_hashed_msisdn(sim, receiver, token):
    _register(sim, receiver, token, version="v2")
    sim.pay_bill("0708374149", 100, "ZEMI42")
    confirmation = receiver.wait_for("/c2b/confirm")[0]
    assert confirmation["MSISDN"] == hashlib.sha256(PHONE.encode()).hexdigest()


def test_paybill_control_api_posts_like_c2b_simulate(sim, receiver, token):
    _register(sim, receiver, token)
    answer = requests.post(f"{sim.base_url}/_sim/paybill",
                           json={"phone": "0708374149", "amount": 300, "account": "ZEMI7"})
    confirmation = parse_c2b(receiver.wait_for("/c2b/confirm")[0])
    assert (confirmation.amount, confirmation.bill_ref_number) == (300, "ZEMI7")
    assert confirmation.trans_id == answer.json()["TransID"]


def test_request_log_records_everything_unmasked_and_reset_clears_it(sim, receiver, token):
    stk_push(sim, receiver, token)
    logged = requests.get(f"{sim.base_url}/_sim/requests",
                          params={"path": "/mpesa/stkpush/v1/processrequest"}).json()
    assert logged[0]["json"]["PhoneNumber"] == PHONE
    assert logged[0]["headers"]["Authorization"] == f"Bearer {token}"
    requests.post(f"{sim.base_url}/_sim/reset")
    assert sim.requests_received() == []


def test_unknown_paths_and_wrong_methods_get_daraja_envelopes(sim):
    missing = requests.post(f"{sim.base_url}/mpesa/nothing/v1/here", json={})
    wrong = requests.get(f"{sim.base_url}/mpesa/stkpush/v1/processrequest")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "404.001.01")
    assert (wrong.status_code, wrong.json()["errorCode"]) == (405, "405.001")


def test_configured_b2c_shortcode_is_enforced_as_party_a(receiver):
    with SimulatorServer({"callback_delay": 0.05, "b2c_shortcode": "600992"}) as strict:
        answer = requests.get(f"{strict.base_url}/oauth/v1/generate",
                              params={"grant_type": "client_credentials"},
                              auth=("sim-key", "sim-secret"))
        token = answer.json()["access_token"]
        wrong = call(strict, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver, PartyA="600000"),
                     token)
        right = call(strict, "/mpesa/b2c/v3/paymentrequest", b2c_body(receiver), token)
    assert wrong.json()["errorMessage"] == "Bad Request - Invalid PartyA"
    assert right.status_code == 200
