"""Order references: 8 digits, the last a Damm check digit.

Digits only, so they are typed on a keypad and read aloud easily; the Damm digit catches every
single wrong digit and every swap of two neighbouring digits.
"""
import secrets

from escrow.numerals import is_ascii_digits

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
BODY_DIGITS = 7


def damm_digit(digits: str) -> str:
    interim = 0
    for char in digits:
        interim = _DAMM[interim][int(char)]
    return str(interim)


def new_reference() -> str:
    """A random 7-digit body (no leading zero, so it never loses a digit in a spreadsheet) + check digit."""
    body = str(secrets.randbelow(9 * 10 ** (BODY_DIGITS - 1)) + 10 ** (BODY_DIGITS - 1))
    return body + damm_digit(body)


def is_valid_reference(text: str) -> bool:
    text = text.strip() if isinstance(text, str) and len(text) <= 64 else ""
    return len(text) == BODY_DIGITS + 1 and is_ascii_digits(text, BODY_DIGITS + 1) and damm_digit(text) == "0"
