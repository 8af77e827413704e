"""Whole-shilling amounts. M-Pesa moves whole KES, so every amount here is an int.

Amounts from outside (USSD, callbacks, JSON numbers) are read by `parse_whole_amount` from a
short string of ASCII digits, never through Decimal or float parsing: `1e1000000` is refused at
once instead of being expanded. Callers that know a tighter ceiling pass `maximum=`; M-Pesa's
own per-transaction ceiling for a callback amount is `MPESA_AMOUNT_CEILING`.
"""
import math
import re

from escrow.errors import InvalidAmount
from escrow.settings import MPESA_MAX_PER_TRANSACTION

AMOUNT_MAX_CHARS = 24               # "1,000,000,000,000.00" with room; longer is not an amount
AMOUNT_LIMIT = 10 ** 12             # default ceiling: beyond any order, still a 64-bit integer
MPESA_AMOUNT_CEILING = MPESA_MAX_PER_TRANSACTION   # no single M-Pesa customer transaction is larger
# 1500, 1,500 (grouped by thousands) with an optional all-zero decimal part (Daraja's "1500.00", 1500.0).
_WHOLE = re.compile(r"(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.0{1,4})?")
_UNGROUPED = re.compile(r"(?P<int>[0-9]+)(?:\.0{1,4})?")   # as a provider writes it: no separators


def parse_whole_amount(value, *, maximum: int = AMOUNT_LIMIT, minimum: int = 0, grouped: bool = True) -> int:
    """Turn 100, "100", "100.00", "1,500" or 100.0 into an int in minimum..maximum; refuse anything else.

    "1.5", 1.5, "1e3", "-5", "+5", other scripts' digits and anything over AMOUNT_MAX_CHARS
    characters are refused (InvalidAmount), in time proportional to at most AMOUNT_MAX_CHARS.
    `grouped=False` also refuses thousands separators: a provider never writes "1,000", so one
    that arrives is not M-Pesa's (a person typing on USSD may write it).
    """
    number = _whole_number(value, _WHOLE if grouped else _UNGROUPED)
    if number is None:
        raise InvalidAmount(f"not a whole number of shillings: {_shown(value)}")
    if not minimum <= number <= maximum:
        raise InvalidAmount(f"amount outside {minimum:,}..{maximum:,}: {_shown(value)}")
    return number


def _whole_number(value, pattern: re.Pattern) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if not isinstance(value, str) or len(value) > AMOUNT_MAX_CHARS:
        return None
    match = pattern.fullmatch(value.strip())
    return int(match.group("int").replace(",", "")) if match else None


def _shown(value) -> str:
    """A short, safe picture of a refused value for messages (never a huge repr)."""
    if isinstance(value, str):
        return repr(value[:AMOUNT_MAX_CHARS]) + ("..." if len(value) > AMOUNT_MAX_CHARS else "")
    if isinstance(value, float):
        return repr(value)
    return f"a {type(value).__name__}"


def format_kes(amount: int) -> str:
    """KES 1,500 style, for screens and messages."""
    return f"KES {amount:,}"
