"""The simulator's knowledge of Daraja: scenarios, identifiers, request checks and payload shapes.

Pure data and functions (no Flask, no threads). Every payload here copies Daraja's field names,
value types and misspellings as documented (ResultCode int in callbacks, str in queries, ...).
"""
import base64
import random
import re
import string
import uuid
from datetime import datetime, timedelta, timezone

from escrow.errors import InvalidAmount
from escrow.money import parse_whole_amount

EAT = timezone(timedelta(hours=3), "EAT")
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
DEFAULTS = {
    "consumer_key": "sim-key", "consumer_secret": "sim-secret", "shortcode": "174379",
    "passkey": SANDBOX_PASSKEY, "till_number": None, "b2c_shortcode": None,
    "initiator_name": "testapi", "security_credential": None, "callback_delay": 0.3,
    "late_delay": 3.0, "default_scenario": "success", "token_ttl": 3599,
}
SUCCESS_DESC = "The service request is processed successfully."
STK_OUTCOMES = {
    "success": (0, SUCCESS_DESC),
    "insufficient_funds": (1, "The balance is insufficient for the transaction."),
    "cancelled": (1032, "Request cancelled by user"),
    "unreachable": (1037, "DS timeout user cannot be reached"),
    "wrong_pin": (2001, "The initiator information is invalid."),
    "busy": (1001, "Unable to lock subscriber, a transaction is already in process for the "
                   "current subscriber"),
    "rule_limited": (17, "Rule limited."),
    "expired": (1019, "Transaction has expired"),
    "late_callback": (0, SUCCESS_DESC),
    "duplicate_callback": (0, SUCCESS_DESC),
    "no_callback": (0, SUCCESS_DESC),
    "wrong_amount": (0, SUCCESS_DESC),
}
B2C_SCENARIOS = {"success", "b2c_queue_timeout_then_success", "b2c_failure", "b2c_no_result",
                 "b2c_retryable_failure", "b2c_failure_no_result"}
SCENARIOS = set(STK_OUTCOMES) | B2C_SCENARIOS
B2C_FAILURE = (2001, "The initiator information is invalid.")
# A transient failure (C.4's generic code 17: "internal failure"; also Daraja's answer to the same
# amount to the same customer within 2 minutes): a new request under a new originator id may succeed.
B2C_RETRYABLE_FAILURE = (17, "Rule limited.")
B2C_FAILURES = {"b2c_failure": B2C_FAILURE, "b2c_retryable_failure": B2C_RETRYABLE_FAILURE,
                "b2c_failure_no_result": B2C_RETRYABLE_FAILURE}
# Scenarios that apply once unless `times` says otherwise: the next request gets the default.
ONCE = {"b2c_retryable_failure", "b2c_failure_no_result"}
FILTERED_WORDS = ("m-pesa", "mpesa", "safaricom", "exec", "exe", "cmd", "sql", "query")


def applies_to(scenario: str, kind: str) -> bool:
    """Is `scenario` meant for an 'stk' or a 'b2c' request?"""
    return scenario in (B2C_SCENARIOS if kind == "b2c" else STK_OUTCOMES)


def eat_now() -> datetime:
    return datetime.now(EAT)


class Identifiers:
    """Daraja-looking ids; receipts are unique for the simulator's lifetime."""

    def __init__(self):
        self._receipts: set[str] = set()

    def receipt(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            value = random.choice(string.ascii_uppercase) + "".join(random.choices(alphabet, k=9))
            if value not in self._receipts:
                self._receipts.add(value)
                return value

    @staticmethod
    def checkout_request_id() -> str:
        return "ws_CO_" + eat_now().strftime("%d%m%Y%H%M%S") + f"{random.randrange(10**12):012d}"

    @staticmethod
    def merchant_request_id() -> str:
        return f"{random.randrange(10**4, 10**5)}-{random.randrange(10**7, 10**8)}-1"

    @staticmethod
    def conversation_id() -> str:
        return f"AG_{eat_now():%Y%m%d}_{uuid.uuid4().hex[:20]}"

    @staticmethod
    def request_id() -> str:
        return "-".join(uuid.uuid4().hex[i:i + 4] for i in (0, 4, 8)) + "-" + uuid.uuid4().hex[:12]


def envelope(code: str, message: str) -> tuple[dict, int]:
    """Daraja's synchronous error body and its HTTP status (taken from the code's prefix)."""
    body = {"requestId": Identifiers.request_id(), "errorCode": code, "errorMessage": message}
    return body, int(code.split(".")[0])


def invalid(field_name: str) -> tuple[dict, int]:
    return envelope("400.002.02", f"Bad Request - Invalid {field_name}")


def stk_password(shortcode: str, passkey: str, timestamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode()


def whole_amount(value) -> int | None:
    try:
        amount = parse_whole_amount(value)
    except InvalidAmount:
        return None
    return amount if amount >= 1 else None


def is_msisdn(value) -> bool:
    return bool(re.fullmatch(r"254[17][0-9]{8}", str(value)))


def url_is_acceptable(url) -> bool:
    text = str(url or "")
    return (re.fullmatch(r"https?://\S+", text) is not None
            and not any(word in text.lower() for word in FILTERED_WORDS))


def timestamp_is_valid(value) -> bool:
    try:
        datetime.strptime(str(value), "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return len(str(value)) == 14


def check_stk_credentials(body: dict, config: dict):
    """The error envelope for a bad shortcode/timestamp/password, else None."""
    shortcode = str(body.get("BusinessShortCode", ""))
    if not shortcode.isdigit():
        return invalid("BusinessShortCode")
    if shortcode != str(config["shortcode"]):
        return envelope("500.001.1001", "Merchant does not exist")
    if not timestamp_is_valid(body.get("Timestamp")):
        return invalid("Timestamp")
    expected = stk_password(shortcode, config["passkey"], str(body["Timestamp"]))
    if body.get("Password") != expected:
        return envelope("500.001.1001", "Wrong credentials")
    return None


def check_stk_push(body: dict, config: dict):
    """Daraja's STK Push validation, in its order; None when the request is acceptable."""
    problem = check_stk_credentials(body, config)
    if problem:
        return problem
    checks = [
        ("TransactionType", body.get("TransactionType") in ("CustomerPayBillOnline",
                                                             "CustomerBuyGoodsOnline")),
        ("Amount", whole_amount(body.get("Amount")) is not None),
        ("PartyA", is_msisdn(body.get("PartyA"))),
        ("PartyB", party_b_is_valid(body, config)),
        ("PhoneNumber", is_msisdn(body.get("PhoneNumber"))),
        ("CallBackURL", url_is_acceptable(body.get("CallBackURL"))),
        ("AccountReference", 0 < len(str(body.get("AccountReference") or "")) <= 12),
        ("TransactionDesc", len(str(body.get("TransactionDesc") or "")) <= 13),
    ]
    return next((invalid(name) for name, ok in checks if not ok), None)


def party_b_is_valid(body: dict, config: dict) -> bool:
    party_b = str(body.get("PartyB"))
    if body.get("TransactionType") == "CustomerBuyGoodsOnline":
        till = config.get("till_number")
        return party_b == str(till) if till else party_b.isdigit()
    return party_b == str(config["shortcode"])


def party_a_is_valid(body: dict, config: dict) -> bool:
    """Any numeric shortcode, unless the simulator was configured with a B2C shortcode."""
    party_a = str(body.get("PartyA") or "")
    expected = config.get("b2c_shortcode")
    return party_a == str(expected) if expected else party_a.isdigit()


def check_b2c(body: dict, config: dict, version: str):
    """B2C request validation; None when acceptable (initiator errors surface in the Result)."""
    remarks = str(body.get("Remarks") or "")
    checks = [
        ("OriginatorConversationID", version == "v1" or bool(body.get("OriginatorConversationID"))),
        ("CommandID", body.get("CommandID") in ("BusinessPayment", "SalaryPayment",
                                                "PromotionPayment")),
        ("Amount", whole_amount(body.get("Amount")) is not None),
        ("PartyA", party_a_is_valid(body, config)),
        ("PartyB", is_msisdn(body.get("PartyB"))),
        ("Remarks", 2 <= len(remarks) <= 100),
        ("QueueTimeOutURL", url_is_acceptable(body.get("QueueTimeOutURL"))),
        ("ResultURL", url_is_acceptable(body.get("ResultURL"))),
    ]
    return next((invalid(name) for name, ok in checks if not ok), None)


def check_transaction_status(body: dict, config: dict):
    checks = [
        ("Initiator", bool(body.get("Initiator")) and bool(body.get("SecurityCredential"))),
        ("CommandID", body.get("CommandID") == "TransactionStatusQuery"),
        ("TransactionID", bool(body.get("TransactionID") or body.get("OriginalConversationID"))),
        ("PartyA", str(body.get("PartyA") or "").isdigit()),
        ("IdentifierType", str(body.get("IdentifierType")) in ("1", "2", "4")),
        ("ResultURL", url_is_acceptable(body.get("ResultURL"))),
        ("QueueTimeOutURL", url_is_acceptable(body.get("QueueTimeOutURL"))),
    ]
    return next((invalid(name) for name, ok in checks if not ok), None)


def check_c2b_registration(body: dict):
    checks = [
        ("ShortCode", str(body.get("ShortCode") or "").isdigit()),
        ("ResponseType", body.get("ResponseType") in ("Completed", "Cancelled")),
        ("ConfirmationURL", url_is_acceptable(body.get("ConfirmationURL"))),
        ("ValidationURL", url_is_acceptable(body.get("ValidationURL"))),
    ]
    return next((invalid(name) for name, ok in checks if not ok), None)


def check_c2b_simulation(body: dict):
    checks = [
        ("ShortCode", str(body.get("ShortCode") or "").isdigit()),
        ("CommandID", body.get("CommandID") in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")),
        ("Amount", whole_amount(body.get("Amount")) is not None),
        ("Msisdn", is_msisdn(body.get("Msisdn"))),
    ]
    return next((invalid(name) for name, ok in checks if not ok), None)


def initiator_is_valid(body: dict, config: dict) -> bool:
    name = body.get("InitiatorName") or body.get("Initiator")
    credential = body.get("SecurityCredential")
    expected = config.get("security_credential")
    return name == config["initiator_name"] and bool(credential) and (
        expected is None or credential == expected)


# -- callback payloads -------------------------------------------------------------------------

def stk_callback(tx: dict, amount: int | None = None) -> dict:
    """{"Body": {"stkCallback": ...}}; CallbackMetadata only on success."""
    callback = {"MerchantRequestID": tx["merchant_request_id"],
                "CheckoutRequestID": tx["checkout_request_id"],
                "ResultCode": tx["result_code"], "ResultDesc": tx["result_desc"]}
    if tx["result_code"] == 0:
        callback["CallbackMetadata"] = {"Item": [
            {"Name": "Amount", "Value": float(tx["amount"] if amount is None else amount)},
            {"Name": "MpesaReceiptNumber", "Value": tx["receipt"]},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": int(tx["transaction_date"])},
            {"Name": "PhoneNumber", "Value": int(tx["phone"])}]}
    return {"Body": {"stkCallback": callback}}


def _parameters(pairs: list[tuple]) -> dict:
    return {"ResultParameter": [{"Key": k} if v is None else {"Key": k, "Value": v}
                                for k, v in pairs]}


def _reference(key: str, value: str) -> dict:
    return {"ReferenceItem": {"Key": key, "Value": value}}


def b2c_result(payout: dict) -> dict:
    """The Result posted to ResultURL; a failure has no ResultParameters and a dummy TransactionID."""
    result = {"ResultType": 0, "ResultCode": payout["result_code"],
              "ResultDesc": payout["result_desc"],
              "OriginatorConversationID": payout["originator_conversation_id"],
              "ConversationID": payout["conversation_id"],
              "TransactionID": payout["receipt"] if payout["result_code"] == 0 else "OAK0000000"}
    if payout["result_code"] == 0:
        result["ResultParameters"] = _parameters([
            ("TransactionAmount", payout["amount"]), ("TransactionReceipt", payout["receipt"]),
            ("ReceiverPartyPublicName", f"{payout['phone']} - JOHN DOE"),
            ("TransactionCompletedDateTime", payout["completed_at"].strftime("%d.%m.%Y %H:%M:%S")),
            ("B2CUtilityAccountAvailableFunds", 8959269.60),
            ("B2CWorkingAccountAvailableFunds", 1199371.00),
            ("B2CRecipientIsRegisteredCustomer", "Y"),
            ("B2CChargesPaidAccountAvailableFunds", -1980.00)])
    result["ReferenceData"] = _reference(
        "QueueTimeoutURL", "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit")
    return {"Result": result}


def b2c_queue_timeout(payout: dict) -> dict:
    """What the simulator posts to QueueTimeOutURL (Daraja does not document this body)."""
    return {"Result": {"ResultType": 1, "ResultCode": 1,
                       "ResultDesc": "The request timed out in the queue.",
                       "OriginatorConversationID": payout["originator_conversation_id"],
                       "ConversationID": payout["conversation_id"], "TransactionID": ""}}


def _status_desc(found: bool) -> str:
    return SUCCESS_DESC if found else "Invalid request parameters: no such transaction."


def transaction_status_result(query: dict, payout: dict | None) -> dict:
    """The Result of a Transaction Status query about `payout` (None: nothing matched)."""
    found = payout is not None
    result = {"ResultType": 0, "ResultCode": 0 if found else 25,
              "ResultDesc": _status_desc(found),
              "OriginatorConversationID": query["originator_conversation_id"],
              "ConversationID": query["conversation_id"], "TransactionID": query["transaction_id"]}
    if not found:
        return {"Result": result}
    when = payout["completed_at"].strftime("%Y%m%d%H%M%S")
    result["ResultParameters"] = _parameters([
        ("DebitPartyName", f"{payout['party_a']} - Zemi Escrow"),
        ("CreditPartyName", f"{payout['phone']} - JOHN DOE"),
        ("OriginatorConversationID", payout["originator_conversation_id"]),
        ("InitiatedTime", int(when)), ("DebitAccountType", "Utility Account"),
        ("DebitPartyCharges", "Fee For B2C Payment|KES|22.40"), ("TransactionReason", None),
        ("ReasonType", "Business Payment to Customer via API"),
        ("TransactionStatus", payout["status"]), ("FinalisedTime", int(when)),
        ("Amount", payout["amount"]), ("ConversationID", payout["conversation_id"]),
        ("ReceiptNo", payout["receipt"])])
    result["ReferenceData"] = _reference("Occasion", query.get("occasion") or "")
    return {"Result": result}


def c2b_body(payment: dict, *, confirmation: bool) -> dict:
    """A C2B validation/confirmation body: string amount, masked (v1) or hashed (v2) MSISDN."""
    return {"TransactionType": payment["transaction_type"], "TransID": payment["trans_id"],
            "TransTime": payment["trans_time"], "TransAmount": f"{payment['amount']}.00",
            "BusinessShortCode": str(payment["shortcode"]),
            "BillRefNumber": payment["bill_ref_number"] or "", "InvoiceNumber": "",
            "OrgAccountBalance": f"{payment['balance']}.00" if confirmation else "",
            "ThirdPartyTransID": payment.get("third_party_trans_id", ""),
            "MSISDN": payment["msisdn"], "FirstName": "JOHN", "MiddleName": "", "LastName": ""}
