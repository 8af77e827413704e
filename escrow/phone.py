"""Kenyan mobile numbers: one canonical form (2547XXXXXXXX / 2541XXXXXXXX) and masking."""
import re

from escrow.errors import InvalidPhoneNumber

# ASCII digits only ([0-9], never \d: that matches any script's digits, such as 07١٢٣٤٥٦٧٨).
_KENYAN_MOBILE = re.compile(r"(?:\+?254|0)?([17][0-9]{8})")
MSISDN_MAX_CHARS = 32   # the longest spaced-out form ("+254 712 345 678") with room; longer is refused unread


def normalize_msisdn(raw: str) -> str:
    """07.., 01.., +254.., 254.. (spaces and dashes ignored) -> '2547XXXXXXXX'."""
    cleaned = re.sub(r"[\s\-()]", "", _bounded_text(raw))
    match = _KENYAN_MOBILE.fullmatch(cleaned)
    if not match:
        raise InvalidPhoneNumber(f"not a Kenyan mobile number: {mask_loose(cleaned)}")
    return "254" + match.group(1)


def _bounded_text(raw) -> str:
    """`raw` as text when it is short enough to be a number at all (a JSON number arrives as an int)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 10 ** 15:
        return str(raw)
    if isinstance(raw, str) and len(raw) <= MSISDN_MAX_CHARS:
        return raw
    return ""


def to_e164(msisdn: str) -> str:
    """'2547XXXXXXXX' -> '+2547XXXXXXXX' (Africa's Talking's form)."""
    return "+" + normalize_msisdn(msisdn)


# What a sealed number opens to once it was erased or its retention ran out (escrow/privacy), and
# how it is shown to anyone, in any language.
ERASED = "erased"
ERASED_SHOWN = "**********"


def to_local(msisdn: str) -> str:
    """'2547XXXXXXXX' -> '07XXXXXXXX' (how people read numbers); an erased number shows as stars."""
    if msisdn == ERASED:
        return ERASED_SHOWN
    return "0" + normalize_msisdn(msisdn)[3:]


def mask(msisdn: str) -> str:
    """'254712345678' -> '0712***678': enough to recognise, not enough to call."""
    if msisdn == ERASED:
        return ERASED_SHOWN
    local = to_local(msisdn)
    return f"{local[:4]}***{local[-3:]}"


# A number inside free text (a JSON or form body): 254.., +254.., %2B254.. (URL-encoded +) or 07../01..,
# not part of a longer run of digits.
_NUMBER_IN_TEXT = re.compile(r"(?<![0-9])(?:(?:\+|%2B)?254|0)([17][0-9]{8})(?![0-9])")


def mask_numbers_in(text: str) -> str:
    """Every Kenyan mobile number in `text` masked as `mask` shows it; the rest untouched."""
    return _NUMBER_IN_TEXT.sub(lambda match: mask("254" + match.group(1)), text)


def mask_loose(text: str) -> str:
    """Mask anything number-like that failed to parse, for error messages and logs."""
    digits = str(text or "")
    if len(digits) <= 4:
        return "***"
    return f"{digits[:3]}***{digits[-2:]}"
