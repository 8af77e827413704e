"""Whole-shilling amounts. M-Pesa moves whole KES, so every amount here is an int."""
from decimal import Decimal, InvalidOperation

from escrow.errors import InvalidAmount


def parse_whole_amount(value) -> int:
    """Turn 100, "100", "100.00" or 100.0 into 100; refuse anything that is not a whole number.

    Goes through Decimal so "1.5" or 1.5 is rejected rather than rounded.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidAmount(f"not an amount: {value!r}")
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise InvalidAmount(f"not an amount: {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise InvalidAmount(f"not a whole number of shillings: {value!r}")
    return int(number)


def format_kes(amount: int) -> str:
    """KES 1,500 style, for screens and messages."""
    return f"KES {amount:,}"
