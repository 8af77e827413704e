"""Every refusal, ours or the core's, mapped to one catalog message in one place.

`explain` says what to tell the caller and whether the session must end regardless of the
screen. Otherwise the engine re-prompts on input screens and menus, and ends after actions.
"""
from dataclasses import dataclass

from escrow.catalog import CATALOGS, DEFAULT_LANGUAGE
from escrow.errors import (CallerLocked, CodeLocked, EscrowError, InvalidAmount, InvalidPhoneNumber,
                           InvalidTransition, LimitExceeded, NotAllowed, OrderNotFound, SellerNotAccepted,
                           WrongCode)
from escrow.money import format_kes

from ussd.errors import InvalidInput
from ussd.screens import Context

AMOUNT_LIMITS = ("order_min", "order_max")


@dataclass(frozen=True)
class Explanation:
    key: str
    params: dict
    ends: bool = False


def explain(exc: Exception, ctx: Context) -> Explanation:
    for kind, describe in _TABLE:
        if isinstance(exc, kind):
            return describe(exc, ctx)
    return Explanation("ussd.err.general", {}, ends=True)


MONEY_LIMITS = ("daily_total_per_buyer",)


def _limit(exc: LimitExceeded, ctx: Context) -> Explanation:
    """Which limit, its value and when it resets (each limit's own text); the amount range re-prompts."""
    if exc.limit not in AMOUNT_LIMITS:
        key = f"ussd.err.limit.{exc.limit}"
        if key not in CATALOGS[DEFAULT_LANGUAGE]:
            return Explanation("ussd.err.limit", {}, ends=True)
        value = format_kes(exc.value) if exc.limit in MONEY_LIMITS else f"{exc.value:,}"
        return Explanation(key, {"value": value}, ends=True)
    low, high = ctx.service.limits()
    return Explanation("ussd.err.range", {"min": format_kes(low), "max": format_kes(high)})


_TABLE = (
    (InvalidInput, lambda exc, ctx: Explanation(exc.key, exc.params)),
    (WrongCode, lambda exc, ctx: Explanation("ussd.err.wrong_code", {"remaining": exc.remaining})),
    (CallerLocked, lambda exc, ctx: Explanation("ussd.err.locked_today", {}, ends=True)),
    (CodeLocked, lambda exc, ctx: Explanation("ussd.err.locked", {}, ends=True)),
    (SellerNotAccepted, lambda exc, ctx: Explanation("ussd.err.seller_first", {"ref": exc.reference}, ends=True)),
    (InvalidPhoneNumber, lambda exc, ctx: Explanation("ussd.err.phone", {})),
    (InvalidAmount, lambda exc, ctx: Explanation("ussd.err.amount", {})),
    (LimitExceeded, _limit),
    (OrderNotFound, lambda exc, ctx: Explanation("ussd.err.not_found", {}, ends=True)),
    (NotAllowed, lambda exc, ctx: Explanation("ussd.err.not_allowed", {})),
    (InvalidTransition, lambda exc, ctx: Explanation("ussd.err.changed", {}, ends=True)),
    (EscrowError, lambda exc, ctx: Explanation("ussd.err.general", {}, ends=True)),
)
