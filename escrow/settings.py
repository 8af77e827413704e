"""The core's settings, parsed from a mapping (the environment, or a test's dict)."""
import ipaddress
from dataclasses import dataclass
from typing import Mapping

from escrow.errors import ConfigError
from escrow.numerals import read_count

# M-Pesa's customer limits (protocols.md C.12 #5); they change, hence settings.
MPESA_MAX_PER_TRANSACTION = 250_000
MPESA_MAX_PER_DAY = 500_000


@dataclass(frozen=True)
class EscrowSettings:
    fee_bps: int = 150
    fee_min: int = 10
    fee_max: int = 1_000
    fee_payer: str = "seller"
    order_min: int = 50
    order_max: int = MPESA_MAX_PER_TRANSACTION
    stk_delay_seconds: int = 3
    unpaid_ttl_seconds: int = 15 * 60
    b2c_query_after_seconds: int = 120
    item_max_chars: int = 20
    request_ttl_seconds: int = 24 * 3600          # a seller's payment request lapses
    dispatch_deadline_seconds: int = 3 * 24 * 3600  # funded but never dispatched: refund
    inspection_seconds: int = 7 * 24 * 3600       # dispatched, buyer silent: release
    reminder_lead_seconds: int = 24 * 3600        # reminders go this long before a deadline
    pay_reminder_lead_seconds: int = 5 * 60
    daily_total_per_buyer: int = MPESA_MAX_PER_DAY
    orders_per_hour: int = 10                     # per phone number
    stk_pushes_per_hour: int = 5                  # per phone number
    code_sms_wait_seconds: int = 30 * 60          # a code SMS not delivered by then: the code on USSD

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "EscrowSettings":
        values = {name: read_int(env, name.upper(), default)
                  for name, default in _INT_DEFAULTS.items()}
        fee_payer = read_choice(env, "FEE_PAYER", ("seller", "buyer"), "seller")
        settings = cls(fee_payer=fee_payer, **values)
        if settings.fee_min > settings.fee_max or settings.order_min > settings.order_max:
            raise ConfigError("FEE_MIN/FEE_MAX or ORDER_MIN/ORDER_MAX are inverted")
        return settings


_INT_DEFAULTS = {name: field.default for name, field in EscrowSettings.__dataclass_fields__.items()
                 if isinstance(field.default, int)}


# ---- the one parser of settings -----------------------------------------------------------
# Every setting, in every package, is read by these: a value means the same wherever it is read,
# an empty value is the same as an unset one (lists excepted: empty there is an empty list), and
# a value they do not understand raises ConfigError naming the setting.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
INT_MAX_DIGITS = 12


def read_text(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The value stripped of surrounding spaces; `default` when unset or empty."""
    value = env.get(name)
    text = "" if value is None else str(value).strip()
    return text or default


def read_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    """1/true/yes/on or 0/false/no/off, in any case."""
    value = read_text(env, name).lower()
    if not value:
        return default
    if value in TRUE_WORDS or value in FALSE_WORDS:
        return value in TRUE_WORDS
    raise ConfigError(f"{name} must be one of {'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}, "
                      f"not {_shown(value)}")


def read_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0,
             maximum: int | None = None) -> int:
    """A whole number in ASCII digits (no sign, exponent or other script's digits), >= minimum."""
    value = read_text(env, name)
    if not value:
        return default
    number = read_count(value, max_length=INT_MAX_DIGITS)
    if number is None:
        raise ConfigError(f"{name} must be a whole number in digits 0-9, not {_shown(value)}")
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {number}")
    return number


def read_list(env: Mapping[str, str], name: str, default: tuple = ()) -> tuple[str, ...]:
    """A comma list, items stripped, empty items dropped; `default` only when unset."""
    value = env.get(name)
    if value is None:
        return tuple(default)
    return tuple(item.strip() for item in str(value).split(",") if item.strip())


def read_choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    """One of `choices` (compared without case); `default` when unset or empty."""
    value = read_text(env, name)
    if not value:
        return default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {_shown(value)}")


def read_networks(env: Mapping[str, str], name: str) -> tuple:
    """A comma list of IP addresses or CIDR networks (an address is a /32 or /128 network)."""
    networks = []
    for item in read_list(env, name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {_shown(item)} is not an IP address or network") from None
    return tuple(networks)


def _shown(value: str) -> str:
    return repr(value[:40] + ("..." if len(value) > 40 else ""))
