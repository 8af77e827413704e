"""Reading what a callback holds, bounded in time and memory before anything trusts it: its JSON
(size and nesting depth checked before Python's recursive parser runs; NaN, Infinity and NUL
refused) and its amounts (ASCII digits, no exponent or separators, within M-Pesa's own limits)."""
import json
import math
import re

from escrow.errors import InvalidAmount
from escrow.money import MPESA_AMOUNT_CEILING, parse_whole_amount
from mpesa.errors import MalformedCallback

# Bounds on what a callback may hold, checked before anything is parsed or written. The lengths
# are the columns the values end up in (escrow/models.py).
MAX_JSON_CHARS = 64 * 1024      # Daraja's bodies are a few KB
MAX_JSON_DEPTH = 16             # Daraja's deepest body (a B2C result) is 5 levels
MAX_AMOUNT = MPESA_AMOUNT_CEILING   # M-Pesa's own ceiling per transaction, KES
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def read_json(raw: str):
    """A callback body as JSON, bounded in size and nesting depth *before* the parser sees it
    (Python's json recurses per level); NaN/Infinity and NUL anywhere are refused."""
    if len(raw) > MAX_JSON_CHARS:
        raise MalformedCallback(f"body longer than {MAX_JSON_CHARS} characters")
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", raw)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            raise MalformedCallback(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as error:
        raise MalformedCallback(f"not JSON: {str(error)[:80]}") from None
    if _holds_nul(value):
        raise MalformedCallback("a field holds a NUL character")
    return value


def _finite_float(text: str) -> float:
    """A JSON number such as 1e1000000 would overflow to infinity: refused, like NaN."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:24]} is not a finite number")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def amount(value) -> int | None:
    """Whole shillings from Daraja's 1500, 1500.0 or "1500.00": the core's one amount reader, with no
    separators and within M-Pesa's own limits (1 to MAX_AMOUNT); anything else is malformed."""
    if value is None or value == "":
        return None
    try:
        return parse_whole_amount(value, minimum=1, maximum=MAX_AMOUNT, grouped=False)
    except InvalidAmount as error:
        raise MalformedCallback(f"amount refused: {error}") from None
