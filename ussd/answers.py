"""Input hooks: turn what the caller typed into session data, or refuse it.

Refusals raise InvalidInput (our own wording) or the core's EscrowError; the engine maps both
to a re-prompt in one place (`ussd.failures`). A delivery code is checked and then dropped:
only the core's stand-in token goes into the session.
"""
from escrow.errors import InvalidPhoneNumber
from escrow.money import format_kes, parse_whole_amount
from escrow.numerals import is_ascii_digits
from escrow.phone import normalize_msisdn

from ussd.errors import InvalidInput
from ussd.gsm7 import transliterate
from ussd.screens import Context, Data

CODE_DIGITS = 6


def accept_party(raw: str, data: Data, ctx: Context) -> Data:
    """The other party's number in any Kenyan form; never the caller's own."""
    number = normalize_msisdn(raw)
    if number == caller_number(ctx):
        raise InvalidInput("ussd.err.self")
    return {"party": number}


def accept_amount(raw: str, data: Data, ctx: Context) -> Data:
    """A whole amount within the limits, priced by the core (fee, what each side pays/gets)."""
    quote = ctx.service.quote(parse_whole_amount(raw))
    return {"price": quote.price, "fee": quote.fee, "fee_payer": quote.fee_payer,
            "charge": quote.charge, "payout": quote.payout}


def accept_item(raw: str, data: Data, ctx: Context) -> Data:
    """A short description exactly as the core will store it (plain GSM-7, its length limit);
    refused when no letter or digit of it survives (never stored as the core's placeholder)."""
    item = ctx.service.item_as_stored(raw)
    if not transliterate(raw) or not any(ch.isalnum() for ch in item):
        raise InvalidInput("ussd.err.item")
    return {"item": item}


def accept_code(raw: str, data: Data, ctx: Context) -> Data:
    """Six digits, matched by the core to one of the caller's orders; keeps only the token."""
    code = raw.strip()
    if len(code) != CODE_DIGITS or not is_ascii_digits(code, CODE_DIGITS):
        raise InvalidInput("ussd.err.code_format")
    match = ctx.service.check_delivery_code(caller=ctx.caller, code=code)
    order = match.order
    return {"ref": order.reference, "token": match.token, "item": order.item, "price": order.price,
            "payout": order.payout, "role": order.role, "party": order.counterpart or order.counterpart_masked}


def caller_number(ctx: Context) -> str | None:
    try:
        return normalize_msisdn(ctx.caller)
    except InvalidPhoneNumber:
        return None


def amount_range(data: Data, ctx: Context) -> Data:
    low, high = ctx.service.limits()
    return {"min": format_kes(low), "max": format_kes(high)}
