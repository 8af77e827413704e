"""What Africa's Talking tells us, as typed values: send outcomes, delivery reports, incoming texts.

AT's field names (statusCode, messageId, phoneNumber, ...) are read here and nowhere
else; everything that leaves this module uses snake_case fields.
"""
from collections.abc import Mapping
from dataclasses import dataclass

from escrow.errors import InvalidPhoneNumber
from escrow.numerals import read_count
from escrow.phone import normalize_msisdn, to_e164
from sms.errors import MalformedReport

ACCEPTED_CODES = frozenset({100, 101, 102})  # Processed, Sent, Queued
RETRYABLE_CODES = frozenset({401, 405, 500, 501, 502})
PERMANENT_CODES = frozenset({402, 403, 404, 406, 407, 409})

PENDING_STATUSES = frozenset({"Sent", "Submitted", "Buffered"})
DELIVERED_STATUSES = frozenset({"Success"})
UNDELIVERED_STATUSES = frozenset({"Failed", "Rejected", "AbsentSubscriber", "Expired"})

_REASON_SPELLINGS = {"NotNetworkSubcriber": "NotNetworkSubscriber"}


def is_retryable_code(status_code: int | None) -> bool:
    """Whether a recipient refused with this statusCode may succeed if sent again.

    Retryable: 500/501/502 (AT's or the gateway's trouble, usually passing),
    405 InsufficientBalance (fixed by topping up the account, not by the
    recipient) and 401 RiskHold (AT's fraud check holds the account until
    support clears it). Permanent: 402 InvalidSenderId, 403 InvalidPhoneNumber,
    404 UnsupportedNumberType, 406 UserInBlacklist (opted out), 407 CouldNotRoute,
    409 DoNotDisturbRejection: resending the same text to the same number gets
    the same answer. A code not in AT's table is retryable only if it is 5xx.
    """
    if status_code is None or status_code in PERMANENT_CODES:
        return False
    return status_code in RETRYABLE_CODES or 500 <= status_code <= 599


@dataclass(frozen=True)
class SmsOutcome:
    """AT's answer for one recipient of a send: accepted for sending, or refused."""

    phone: str
    accepted: bool
    retryable: bool
    status_code: int | None
    status: str
    message_id: str | None
    cost: str | None


def outcome_from_recipient(recipient: Mapping, phone: str) -> SmsOutcome:
    """One entry of SMSMessageData.Recipients -> SmsOutcome (phone is our E.164 fallback)."""
    code = _int_or_none(recipient.get("statusCode"))
    status = str(recipient.get("status") or "")
    accepted = code in ACCEPTED_CODES if code is not None else status == "Success"
    return SmsOutcome(
        phone=str(recipient.get("number") or phone),
        accepted=accepted,
        retryable=not accepted and is_retryable_code(code),
        status_code=code,
        status=status,
        message_id=_present(recipient.get("messageId")),
        cost=_present(recipient.get("cost")),
    )


@dataclass(frozen=True)
class DeliveryReport:
    """A delivery report: where one sent message got to. `final` means no later report will come."""

    message_id: str
    status: str
    final: bool
    delivered: bool
    failure_reason: str | None
    phone: str | None
    network_code: str | None
    retry_count: int | None


def parse_delivery_report(form: Mapping[str, str]) -> DeliveryReport:
    """AT's delivery-report form -> DeliveryReport; MalformedReport when id or status is missing.

    An unknown status is treated as not final (a later report will settle it).
    `failure_reason` uses the spelling NotNetworkSubscriber whichever way AT spelt it.
    """
    message_id = _required(form, "id")
    status = _required(form, "status")
    return DeliveryReport(
        message_id=message_id,
        status=status,
        final=status in DELIVERED_STATUSES or status in UNDELIVERED_STATUSES,
        delivered=status in DELIVERED_STATUSES,
        failure_reason=_failure_reason(form.get("failureReason")),
        phone=_phone_or_raw(form.get("phoneNumber")),
        network_code=_present(form.get("networkCode")),
        retry_count=_int_or_none(form.get("retryCount")),
    )


@dataclass(frozen=True)
class InboundSms:
    """A text someone sent to our short code. `received_at_text` is AT's date, unparsed."""

    message_id: str
    from_phone: str
    to: str | None
    text: str
    received_at_text: str | None
    link_id: str | None
    network_code: str | None


def parse_inbound_sms(form: Mapping[str, str]) -> InboundSms:
    """AT's incoming-message form -> InboundSms; MalformedReport when id or from is missing."""
    return InboundSms(
        message_id=_required(form, "id"),
        from_phone=_phone_or_raw(_required(form, "from")),
        to=_present(form.get("to")),
        text=str(form.get("text") or ""),
        received_at_text=_present(form.get("date")),
        link_id=_present(form.get("linkId")),
        network_code=_present(form.get("networkCode")),
    )


def _required(form: Mapping, field: str) -> str:
    value = _present(form.get(field))
    if value is None:
        raise MalformedReport(f"missing {field}")
    return value


def _present(value) -> str | None:
    """A stripped string, or None for missing, empty and AT's literal "None"."""
    text = str(value).strip() if value is not None else ""
    return None if text in ("", "None") else text


def _int_or_none(value) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 10 ** 9 else None
    return read_count(value, max_length=9)


def _failure_reason(value) -> str | None:
    reason = _present(value)
    return _REASON_SPELLINGS.get(reason, reason)


def _phone_or_raw(value) -> str | None:
    """Kenyan numbers in E.164; anything else (foreign, short codes) as AT sent it."""
    raw = _present(value)
    if raw is None:
        return None
    try:
        return to_e164(normalize_msisdn(raw))
    except InvalidPhoneNumber:
        return raw
