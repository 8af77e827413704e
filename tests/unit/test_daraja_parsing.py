"""Daraja callback parsers, STK password, URL rules, sanitising and SecurityCredential (no I/O)."""
import base64
import copy
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import NameOID

from mpesa.credentials import security_credential_from
from mpesa.daraja import DarajaClient, DarajaConfig
from mpesa.fields import callback_url_problems, sanitize_account_reference, sanitize_description, stk_password
from mpesa.errors import (DarajaAuthError, DarajaError, DarajaRejected, DarajaTimeout,
                          DarajaUnreachable, MalformedCallback)
from mpesa.results import (EAT, parse_b2c_result, parse_b2c_timeout, parse_c2b,
                           parse_stk_callback, parse_transaction_status_result)
from mpesa.token_store import InMemoryTokenStore

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"

STK_SUCCESS = {"Body": {"stkCallback": {
    "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_191220191020363925",
    "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
    "CallbackMetadata": {"Item": [
        {"Name": "Amount", "Value": 1.00}, {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
        {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20191219102115},
        {"Name": "PhoneNumber", "Value": 254708374149}]}}}}
STK_CANCELLED = {"Body": {"stkCallback": {
    "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_191220191020363925",
    "ResultCode": 1032, "ResultDesc": "Request cancelled by user"}}}
B2C_SUCCESS = {"Result": {
    "ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
    "OriginatorConversationID": "53e3-4aa8-9fe0-8fb5e4092cdd3405976",
    "ConversationID": "AG_20240706_2010364430d9bbdaf872", "TransactionID": "SG632NMUAB",
    "ResultParameters": {"ResultParameter": [
        {"Key": "TransactionAmount", "Value": 10},
        {"Key": "TransactionReceipt", "Value": "SG632NMUAB"},
        {"Key": "ReceiverPartyPublicName", "Value": "254705912645 - JOHN DOE"},
        {"Key": "TransactionCompletedDateTime", "Value": "06.07.2024 22:48:52"},
        {"Key": "B2CUtilityAccountAvailableFunds", "Value": 8959269.60},
        {"Key": "B2CWorkingAccountAvailableFunds", "Value": 1199371.00},
        {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
        {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": -1980.00}]},
    "ReferenceData": {"ReferenceItem": {
        "Key": "QueueTimeoutURL",
        "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"}}}}
B2C_FAILURE = {"Result": {
    "ResultType": 0, "ResultCode": 2001, "ResultDesc": "The initiator information is invalid.",
    "OriginatorConversationID": "29112-34801843-1", "ConversationID": "AG_20191219_00006c6fddb15123addf",
    "TransactionID": "NLJ0000000"}}
STATUS_RESULT = {"Result": {
    "ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
    "OriginatorConversationID": "1236-7134259-1", "ConversationID": "AG_20240706_20107e5b1e7e8ea7e5d3",
    "TransactionID": "SG6000000", "ResultParameters": {"ResultParameter": [
        {"Key": "DebitPartyName", "Value": "600992 - Safaricom Daraja"},
        {"Key": "CreditPartyName", "Value": "254705912645 - JOHN DOE"},
        {"Key": "OriginatorConversationID", "Value": "53e3-4aa8-9fe0-8fb5e4092cdd3405976"},
        {"Key": "InitiatedTime", "Value": 20240706224852},
        {"Key": "DebitPartyCharges", "Value": "Fee For B2C Payment|KES|22.40"},
        {"Key": "TransactionReason"},
        {"Key": "TransactionStatus", "Value": "Completed"},
        {"Key": "Amount", "Value": 10.0},
        {"Key": "ConversationID", "Value": "AG_20240706_2010364430d9bbdaf872"},
        {"Key": "ReceiptNo", "Value": "SG632NMUAB"}]}}}
C2B_CONFIRMATION = {
    "TransactionType": "Pay Bill", "TransID": "RKL51ZDR4F", "TransTime": "20231121121325",
    "TransAmount": "5.00", "BusinessShortCode": "600966", "BillRefNumber": "INV0001",
    "InvoiceNumber": "", "OrgAccountBalance": "25.00", "ThirdPartyTransID": "",
    "MSISDN": "2547 ***** 126", "FirstName": "JOHN", "MiddleName": "", "LastName": ""}


def _with_stk_item(name, value):
    body = copy.deepcopy(STK_SUCCESS)
    for item in body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]:
        if item["Name"] == name:
            item["Value"] = value
    return body


def test_stk_password_matches_safaricom_published_sample():
    password = stk_password("174379", SANDBOX_PASSKEY, "20210628092408")
    expected = base64.b64encode(("174379" + SANDBOX_PASSKEY + "20210628092408").encode()).decode()
    assert password == expected
    assert password.startswith("MTc0Mzc5YmZiMjc5") and password.endswith("MjEwNjI4MDkyNDA4")


def test_successful_stk_callback_gives_whole_amount_receipt_and_normalised_phone():
    callback = parse_stk_callback(STK_SUCCESS)
    assert callback.succeeded
    assert (callback.checkout_request_id, callback.result_code) == ("ws_CO_191220191020363925", "0")
    assert callback.amount == 1 and isinstance(callback.amount, int)
    assert callback.receipt == "NLJ7RT61SV"
    assert callback.phone == "254708374149"
    assert callback.transaction_date == "20191219102115"


def test_failed_stk_callback_without_metadata_is_accepted():
    callback = parse_stk_callback(STK_CANCELLED)
    assert not callback.succeeded
    assert callback.result_code == "1032"
    assert (callback.amount, callback.receipt, callback.phone) == (None, None, None)


@pytest.mark.parametrize("code", [1032, "1032"])
def test_stk_result_code_is_a_string_whether_sent_as_int_or_string(code):
    body = copy.deepcopy(STK_CANCELLED)
    body["Body"]["stkCallback"]["ResultCode"] = code
    assert parse_stk_callback(body).result_code == "1032"


def test_stk_metadata_items_are_found_by_name_in_any_order():
    body = copy.deepcopy(STK_SUCCESS)
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"].reverse()
    assert parse_stk_callback(body).receipt == "NLJ7RT61SV"


@pytest.mark.parametrize("amount", [1.5, "10.50", -3, 0])
def test_stk_amount_that_is_not_a_positive_whole_number_is_malformed(amount):
    with pytest.raises(MalformedCallback):
        parse_stk_callback(_with_stk_item("Amount", amount))


def test_stk_success_without_receipt_is_malformed():
    body = copy.deepcopy(STK_SUCCESS)
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"] = [
        i for i in items if i["Name"] != "MpesaReceiptNumber"]
    with pytest.raises(MalformedCallback, match="MpesaReceiptNumber"):
        parse_stk_callback(body)


def test_unreadable_stk_phone_is_dropped_not_fatal():
    assert parse_stk_callback(_with_stk_item("PhoneNumber", "not-a-phone")).phone is None


GARBAGE = [None, [], "Body", 42, {}, {"Body": {}}, {"Body": {"stkCallback": "x"}},
           {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0,
                                     "CallbackMetadata": {"Item": "nope"}}}},
           {"Result": None}, {"Result": {"ResultParameters": 7}}, {"TransID": None}]


@pytest.mark.parametrize("parse", [parse_stk_callback, parse_b2c_result, parse_b2c_timeout,
                                   parse_transaction_status_result, parse_c2b])
@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_bodies_raise_only_malformed_callback(parse, body):
    with pytest.raises(MalformedCallback) as caught:
        parse(body)
    assert caught.value.reason


def test_b2c_success_result_is_parsed_from_result_parameters():
    result = parse_b2c_result(B2C_SUCCESS)
    assert result.succeeded and result.result_code == "0"
    assert result.originator_conversation_id == "53e3-4aa8-9fe0-8fb5e4092cdd3405976"
    assert (result.amount, result.receipt) == (10, "SG632NMUAB")
    assert result.receiver_public_name == "254705912645 - JOHN DOE"
    assert result.completed_at == dt.datetime(2024, 7, 6, 22, 48, 52, tzinfo=EAT)


def test_b2c_failure_result_has_no_parameters_and_is_tolerated():
    result = parse_b2c_result(B2C_FAILURE)
    assert result.result_code == "2001" and not result.succeeded
    assert (result.amount, result.receipt, result.completed_at) == (None, None, None)
    assert result.transaction_id == "NLJ0000000"


def test_b2c_fractional_amount_is_malformed():
    body = copy.deepcopy(B2C_SUCCESS)
    body["Result"]["ResultParameters"]["ResultParameter"][0]["Value"] = 10.5
    with pytest.raises(MalformedCallback):
        parse_b2c_result(body)


def test_b2c_result_with_a_single_parameter_object_is_read():
    body = copy.deepcopy(B2C_FAILURE)
    body["Result"]["ResultParameters"] = {"ResultParameter": {"Key": "TransactionAmount",
                                                              "Value": "10"}}
    assert parse_b2c_result(body).amount == 10


def test_b2c_queue_timeout_yields_its_ids_from_a_result_envelope_or_bare_body():
    from_envelope = parse_b2c_timeout(B2C_FAILURE)
    bare = parse_b2c_timeout({"OriginatorConversationID": "oc-7", "ResultCode": "SVC0403"})
    assert from_envelope.originator_conversation_id == "29112-34801843-1"
    assert from_envelope.conversation_id == "AG_20191219_00006c6fddb15123addf"
    assert (bare.originator_conversation_id, bare.result_code) == ("oc-7", "SVC0403")
    with pytest.raises(MalformedCallback):
        parse_b2c_timeout({"Result": {"ResultCode": 1}})


def test_transaction_status_result_names_the_queried_payout_and_its_fate():
    result = parse_transaction_status_result(STATUS_RESULT)
    assert result.originator_conversation_id == "1236-7134259-1"
    assert result.queried_originator_conversation_id == "53e3-4aa8-9fe0-8fb5e4092cdd3405976"
    assert (result.receipt, result.transaction_status, result.amount) == (
        "SG632NMUAB", "Completed", 10)


def test_c2b_confirmation_keeps_masked_msisdn_and_whole_amount():
    payment = parse_c2b(C2B_CONFIRMATION)
    assert (payment.trans_id, payment.amount, payment.bill_ref_number) == ("RKL51ZDR4F", 5, "INV0001")
    assert payment.msisdn_masked == "2547 ***** 126"
    assert payment.business_shortcode == "600966"


def test_c2b_fractional_amount_is_malformed():
    with pytest.raises(MalformedCallback):
        parse_c2b({**C2B_CONFIRMATION, "TransAmount": "5.50"})


@pytest.mark.parametrize("word", ["mpesa", "M-PESA", "Safaricom", "exe", "EXEC", "cmd", "sql",
                                  "Query"])
def test_callback_urls_with_daraja_filtered_words_are_flagged(word):
    problems = callback_url_problems(f"https://zemi.example.com/hooks/{word}/abc")
    assert any("filtered word" in p for p in problems)


def test_clean_callback_url_has_no_problems():
    assert callback_url_problems("https://zemi.example.com/hooks/stk/s3cr3t") == []
    assert callback_url_problems(" https://zemi.example.com/a b") != []
    assert callback_url_problems("ftp://zemi.example.com/x") != []


def test_stk_push_refuses_a_filtered_callback_url_before_calling_daraja():
    config = DarajaConfig(base_url="http://127.0.0.1:9", consumer_key="k", consumer_secret="s",
                          shortcode="174379", passkey=SANDBOX_PASSKEY)
    client = DarajaClient(config, InMemoryTokenStore())
    with pytest.raises(ValueError, match="mpesa"):
        client.stk_push(phone="0708374149", amount=10, account_reference="A1",
                        description="Pay", callback_url="https://zemi.example.com/mpesa/cb")


def test_account_reference_is_cut_to_twelve_letters_and_digits():
    assert sanitize_account_reference("ZEMI-ord #00012345!") == "ZEMIord00012"
    with pytest.raises(ValueError):
        sanitize_account_reference("--- ###")


def test_description_is_cut_to_thirteen_letters_digits_and_spaces():
    assert sanitize_description("Escrow: order #42 payment") == "Escrow order"
    assert sanitize_description("Pay  for   goods!") == "Pay for goods"
    assert sanitize_description("!!!") == "Payment"
    assert len(sanitize_description("a" * 40)) == 13


def test_config_repr_hides_secrets():
    config = DarajaConfig(base_url="https://x", consumer_key="key", consumer_secret="SECRET1",
                          shortcode="174379", passkey="PASSKEY1", security_credential="CRED1")
    assert not any(s in repr(config) for s in ("SECRET1", "PASSKEY1", "CRED1"))


def test_error_hierarchy_is_rooted_and_auth_errors_are_rejections():
    assert issubclass(DarajaAuthError, DarajaRejected)
    for cls in (DarajaTimeout, DarajaUnreachable, DarajaRejected, MalformedCallback):
        assert issubclass(cls, DarajaError)
    error = DarajaRejected("Bad Request - Invalid Amount", http_status=400,
                           error_code="400.002.02", request_id="r-1")
    assert (error.http_status, error.error_code, error.request_id) == (400, "400.002.02", "r-1")
    assert "400.002.02" in str(error)


def _self_signed_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.example")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


def test_security_credential_decrypts_to_the_initiator_password():
    key, pem = _self_signed_certificate()
    first = security_credential_from("Safaricom999!*!", pem)
    second = security_credential_from("Safaricom999!*!", pem)
    assert len(first) == 344 and first != second  # PKCS#1 v1.5 padding is random
    assert key.decrypt(base64.b64decode(first), PKCS1v15()) == b"Safaricom999!*!"


def _status_result(code=0, status="Completed"):
    body = copy.deepcopy(STATUS_RESULT)
    body["Result"]["ResultCode"] = code
    for item in body["Result"]["ResultParameters"]["ResultParameter"]:
        if item["Key"] == "TransactionStatus":
            item["Value"] = status
    return body


@pytest.mark.parametrize("status, word", [("Failed", "Failed"), ("Cancelled", "Cancelled"),
                                          ("Reversed", "Reversed"), ("failed", "Failed")])
def test_a_status_query_saying_failed_is_a_definite_failure_of_the_queried_payout(status, word):
    from mpesa.routes import status_query_result

    result = status_query_result(_status_result(status=status))
    assert (result.succeeded, result.result_code) == (False, word)
    assert result.originator_id == "53e3-4aa8-9fe0-8fb5e4092cdd3405976"
    assert word in result.description


def test_a_status_query_saying_completed_is_a_success_with_its_receipt():
    from mpesa.routes import status_query_result

    result = status_query_result(_status_result())
    assert (result.succeeded, result.receipt, result.amount) == (True, "SG632NMUAB", 10)


@pytest.mark.parametrize("code, status", [(0, "Pending"), (0, None), (0, "Whatever"), (25, "Failed"),
                                          ("2001", "Completed")])
def test_a_status_query_without_a_definite_answer_is_inconclusive(code, status):
    from mpesa.routes import status_query_result

    assert status_query_result(_status_result(code=code, status=status)) is None
