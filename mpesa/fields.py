"""Daraja's rules for the values we send: the STK password and timestamp, the callback URLs it
accepts, and the lengths and characters of its text fields (protocols.md part C)."""
import base64
import re
from datetime import datetime

from escrow.errors import InvalidPhoneNumber
from escrow.phone import mask_loose, normalize_msisdn
from mpesa.results import EAT

FILTERED_WORDS = ("m-pesa", "mpesa", "safaricom", "exec", "exe", "cmd", "sql", "query")


def stk_password(shortcode: str, passkey: str, timestamp: str) -> str:
    """base64(BusinessShortCode + Passkey + Timestamp), plain concatenation."""
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode("ascii")


def eat_timestamp(moment: datetime) -> str:
    """YYYYMMDDHHmmss in Kenyan time (UTC+3)."""
    return moment.astimezone(EAT).strftime("%Y%m%d%H%M%S")


def callback_url_problems(url: str) -> list[str]:
    """Why Daraja would refuse this callback URL; empty when it looks acceptable."""
    text = str(url or "")
    problems = [f"contains the filtered word {word!r}"
                for word in FILTERED_WORDS if word in text.lower()]
    if text != text.strip() or " " in text:
        problems.append("contains spaces")
    if not re.match(r"^https?://[^/\s]+", text.strip()):
        problems.append("is not an absolute http(s) URL")
    return problems


def sanitize_account_reference(text: str) -> str:
    """[A-Za-z0-9] only, at most 12 characters (it is shown in the customer's prompt)."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", str(text or ""))[:12]
    if not cleaned:
        raise ValueError("account reference has no letters or digits")
    return cleaned


def sanitize_description(text: str) -> str:
    """[A-Za-z0-9 ] only, at most 13 characters; 'Payment' when nothing is left."""
    cleaned = re.sub(r" +", " ", re.sub(r"[^A-Za-z0-9 ]", "", str(text or ""))).strip()
    return cleaned[:13].strip() or "Payment"


def refuse_bad_urls(**urls: str) -> None:
    for name, url in urls.items():
        problems = callback_url_problems(url)
        if problems:
            raise ValueError(f"{name} {'; '.join(problems)}")


def whole_amount(amount) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise ValueError(f"amount must be a whole number of shillings >= 1, not {amount!r}")
    return amount


_CUSTOMER_MSISDN = re.compile(r"254[17][0-9]{8}")   # [0-9], never \d: no other script's digits


def customer_msisdn(phone) -> str:
    """The last line before a request names a customer (STK PartyA/PhoneNumber, B2C PartyB):
    a Kenyan mobile number, 2547XXXXXXXX or 2541XXXXXXXX in ASCII digits, or ValueError."""
    try:
        msisdn = normalize_msisdn(phone)
    except InvalidPhoneNumber:
        msisdn = ""
    if not (isinstance(msisdn, str) and _CUSTOMER_MSISDN.fullmatch(msisdn)):
        raise ValueError(f"refusing to send: the customer number {mask_loose(str(phone)[:32])} "
                         "is not a Kenyan mobile number")
    return msisdn
