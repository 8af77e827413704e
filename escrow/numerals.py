"""Numbers from outside, read from short strings of ASCII digits only.

`str.isdigit()`, `int()` and the regex `\\d` all accept other scripts' digits (Arabic-Indic ١٢٣,
fullwidth ０７), and `Decimal`/`float` accept exponents (`1e1000000` expands to a million digits).
Every reader of an amount, code, reference, menu choice or count from outside goes through
here: the length is checked before anything else, only 0-9 count as digits, and there is no
sign, exponent, underscore or space inside.
"""
ASCII_DIGITS = frozenset("0123456789")


def is_ascii_digits(text, max_length: int) -> bool:
    """True for a str of 1..max_length characters, each one of 0-9 (and nothing else)."""
    return isinstance(text, str) and 0 < len(text) <= max_length and all(ch in ASCII_DIGITS for ch in text)


def read_count(text, *, max_length: int, maximum: int | None = None) -> int | None:
    """The whole number written in `text` (ASCII digits, surrounding spaces ignored), or None
    when it is not one, is longer than `max_length` digits, or is above `maximum`."""
    if not isinstance(text, str) or len(text) > max_length + 64:
        return None
    digits = text.strip()
    if not is_ascii_digits(digits, max_length):
        return None
    number = int(digits)
    return number if maximum is None or number <= maximum else None
