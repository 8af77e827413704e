"""Typed results of Daraja calls and callbacks, and the parsers that build them.

Parsers never raise anything but `MalformedCallback`: Daraja's payloads mix strings and numbers,
omit `Value` keys and drop metadata on failures, so every lookup here is by name and tolerant.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from escrow.errors import EscrowError
from escrow.phone import normalize_msisdn
from mpesa.callback_values import MAX_AMOUNT, amount as _amount, read_json  # noqa: F401 (read_json re-exported)
from mpesa.errors import MalformedCallback

EAT = timezone(timedelta(hours=3), "EAT")
SUCCESS = "0"
# Bounds on what a callback may hold, checked before anything is parsed or written: the lengths
# are the columns the values end up in (escrow/models.py); reading JSON and amounts is bounded
# in mpesa/callback_values.py.
CODE_LEN, RECEIPT_LEN, ID_LEN, WORD_LEN = 16, 32, 64, 32


@dataclass(frozen=True)
class StkPushAccepted:
    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    customer_message: str


@dataclass(frozen=True)
class StkQueryResult:
    checkout_request_id: str
    pending: bool
    result_code: str | None
    result_desc: str


@dataclass(frozen=True)
class B2cAccepted:
    conversation_id: str
    originator_conversation_id: str
    response_code: str
    response_description: str


@dataclass(frozen=True)
class StatusAccepted:
    conversation_id: str
    originator_conversation_id: str
    response_code: str


@dataclass(frozen=True)
class C2bAccepted:
    originator_conversation_id: str
    response_code: str
    response_description: str


@dataclass(frozen=True)
class StkCallback:
    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_desc: str
    amount: int | None
    receipt: str | None
    phone: str | None
    transaction_date: str | None

    @property
    def succeeded(self) -> bool:
        return self.result_code == SUCCESS


@dataclass(frozen=True)
class B2cResult:
    result_code: str
    result_desc: str
    originator_conversation_id: str
    conversation_id: str | None
    transaction_id: str | None
    amount: int | None
    receipt: str | None
    receiver_public_name: str | None
    completed_at: datetime | None

    @property
    def succeeded(self) -> bool:
        return self.result_code == SUCCESS


@dataclass(frozen=True)
class B2cTimeout:
    originator_conversation_id: str | None
    conversation_id: str | None
    result_code: str | None
    result_desc: str


@dataclass(frozen=True)
class TransactionStatusResult:
    result_code: str
    result_desc: str
    originator_conversation_id: str | None
    conversation_id: str | None
    queried_originator_conversation_id: str | None
    receipt: str | None
    transaction_status: str | None
    amount: int | None

    @property
    def succeeded(self) -> bool:
        return self.result_code == SUCCESS


@dataclass(frozen=True)
class C2bPayment:
    transaction_type: str
    trans_id: str
    trans_time: str
    amount: int
    business_shortcode: str
    bill_ref_number: str
    invoice_number: str
    msisdn_masked: str
    first_name: str
    third_party_trans_id: str


def _guarded(what: str):
    """Decorator: anything a parser trips over becomes MalformedCallback."""
    def wrap(parse):
        def parse_or_refuse(body):
            if not isinstance(body, dict):
                raise MalformedCallback(f"{what}: body is not a JSON object")
            try:
                return parse(body)
            except MalformedCallback:
                raise
            except (EscrowError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise MalformedCallback(f"{what}: {exc.__class__.__name__}: {exc}") from exc
        parse_or_refuse.__name__ = parse.__name__
        parse_or_refuse.__doc__ = parse.__doc__
        return parse_or_refuse
    return wrap


def _required(mapping: dict, key: str, what: str, limit: int | None = None):
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if value is None or value == "":
        raise MalformedCallback(f"{what}: missing {key}")
    return _fits(value, limit, key) if limit else value


def _text(value, limit: int | None = None, name: str = "field") -> str | None:
    if value is None or value == "":
        return None
    return _fits(value, limit, name) if limit else str(value)


def _fits(value, limit: int, name: str) -> str:
    """A scalar as text no longer than its column: anything else is malformed, never truncated."""
    if isinstance(value, (dict, list)):
        raise MalformedCallback(f"{name} is a {type(value).__name__}, not a value")
    text = str(value)
    if len(text) > limit:
        raise MalformedCallback(f"{name} longer than {limit} characters")
    return text


def _named_items(items, name_key: str) -> dict:
    """Daraja's [{"Name"/"Key": .., "Value": ..}] lists (or a lone dict) -> {name: value}."""
    if items is None:
        return {}
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise MalformedCallback(f"item list is a {type(items).__name__}")
    return {str(item[name_key]): item.get("Value") for item in items if isinstance(item, dict)}


def _phone_or_none(value) -> str | None:
    try:
        return normalize_msisdn(str(value)) if value not in (None, "") else None
    except EscrowError:
        return None


@_guarded("STK callback")
def parse_stk_callback(body: dict) -> StkCallback:
    """{"Body": {"stkCallback": {...}}} -> StkCallback; success must carry amount and receipt."""
    cb = _required(_required(body, "Body", "STK callback"), "stkCallback", "STK callback")
    code = str(_required(cb, "ResultCode", "STK callback", CODE_LEN))
    meta = cb.get("CallbackMetadata") or {}
    items = _named_items(meta.get("Item") if isinstance(meta, dict) else None, "Name")
    parsed = StkCallback(
        merchant_request_id=_text(cb.get("MerchantRequestID"), ID_LEN, "MerchantRequestID") or "",
        checkout_request_id=str(_required(cb, "CheckoutRequestID", "STK callback", ID_LEN)),
        result_code=code, result_desc=str(cb.get("ResultDesc") or ""),
        amount=_amount(items.get("Amount")), receipt=_text(items.get("MpesaReceiptNumber"), RECEIPT_LEN, "receipt"),
        phone=_phone_or_none(items.get("PhoneNumber")),
        transaction_date=_text(items.get("TransactionDate")))
    if parsed.succeeded and (parsed.amount is None or parsed.receipt is None):
        raise MalformedCallback("STK callback: success without Amount or MpesaReceiptNumber")
    return parsed


def _result_envelope(body: dict, what: str) -> tuple[dict, dict]:
    result = _required(body, "Result", what)
    if not isinstance(result, dict):
        raise MalformedCallback(f"{what}: Result is not an object")
    params = result.get("ResultParameters") or {}
    items = params.get("ResultParameter") if isinstance(params, dict) else None
    return result, _named_items(items, "Key")


def _completed_at(value) -> datetime | None:
    """'06.07.2024 22:48:52' (EAT) -> aware datetime; None when absent or unreadable."""
    try:
        return datetime.strptime(str(value), "%d.%m.%Y %H:%M:%S").replace(tzinfo=EAT)
    except ValueError:
        return None


@_guarded("B2C result")
def parse_b2c_result(body: dict) -> B2cResult:
    """{"Result": {...}} posted to ResultURL -> B2cResult; success must carry amount and receipt."""
    result, params = _result_envelope(body, "B2C result")
    parsed = B2cResult(
        result_code=str(_required(result, "ResultCode", "B2C result", CODE_LEN)),
        result_desc=str(result.get("ResultDesc") or ""),
        originator_conversation_id=str(_required(result, "OriginatorConversationID", "B2C result", ID_LEN)),
        conversation_id=_text(result.get("ConversationID"), ID_LEN, "ConversationID"),
        transaction_id=_text(result.get("TransactionID"), RECEIPT_LEN, "TransactionID"),
        amount=_amount(params.get("TransactionAmount")),
        receipt=_text(params.get("TransactionReceipt"), RECEIPT_LEN, "TransactionReceipt"),
        receiver_public_name=_text(params.get("ReceiverPartyPublicName")),
        completed_at=_completed_at(params.get("TransactionCompletedDateTime")))
    if parsed.succeeded and (parsed.amount is None or parsed.receipt is None):
        raise MalformedCallback("B2C result: success without TransactionAmount or receipt")
    return parsed


@_guarded("B2C queue timeout")
def parse_b2c_timeout(body: dict) -> B2cTimeout:
    """Whatever arrives at QueueTimeOutURL: a Result envelope or bare ids; needs one id."""
    source = body.get("Result") if isinstance(body.get("Result"), dict) else body
    originator = _text(source.get("OriginatorConversationID"), ID_LEN, "OriginatorConversationID")
    conversation = _text(source.get("ConversationID"), ID_LEN, "ConversationID")
    if originator is None and conversation is None:
        raise MalformedCallback("B2C queue timeout: no conversation id")
    code = source.get("ResultCode")
    return B2cTimeout(originator_conversation_id=originator, conversation_id=conversation,
                      result_code=None if code is None else _fits(code, CODE_LEN, "ResultCode"),
                      result_desc=str(source.get("ResultDesc") or ""))


@_guarded("transaction status result")
def parse_transaction_status_result(body: dict) -> TransactionStatusResult:
    """{"Result": {...}} of a Transaction Status query -> TransactionStatusResult."""
    result, params = _result_envelope(body, "transaction status result")
    return TransactionStatusResult(
        result_code=str(_required(result, "ResultCode", "transaction status result", CODE_LEN)),
        result_desc=str(result.get("ResultDesc") or ""),
        originator_conversation_id=_text(result.get("OriginatorConversationID"), ID_LEN, "OriginatorConversationID"),
        conversation_id=_text(result.get("ConversationID"), ID_LEN, "ConversationID"),
        queried_originator_conversation_id=_text(params.get("OriginatorConversationID"), ID_LEN,
                                                 "OriginatorConversationID"),
        receipt=_text(params.get("ReceiptNo"), RECEIPT_LEN, "ReceiptNo"),
        transaction_status=_text(params.get("TransactionStatus"), WORD_LEN, "TransactionStatus"),
        amount=_amount(params.get("Amount")))


@_guarded("C2B payment")
def parse_c2b(body: dict) -> C2bPayment:
    """A C2B validation or confirmation body -> C2bPayment (MSISDN stays masked or hashed)."""
    return C2bPayment(
        transaction_type=str(body.get("TransactionType") or ""),
        trans_id=str(_required(body, "TransID", "C2B payment", RECEIPT_LEN)),
        trans_time=str(body.get("TransTime") or ""),
        amount=_amount(_required(body, "TransAmount", "C2B payment")),
        business_shortcode=_text(body.get("BusinessShortCode"), CODE_LEN, "BusinessShortCode") or "",
        bill_ref_number=str(body.get("BillRefNumber") or ""),
        invoice_number=str(body.get("InvoiceNumber") or ""),
        msisdn_masked=str(body.get("MSISDN") or ""),
        first_name=str(body.get("FirstName") or ""),
        third_party_trans_id=str(body.get("ThirdPartyTransID") or ""))
