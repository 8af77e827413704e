"""The core's settings, parsed from a mapping (the environment, or a test's dict)."""
from dataclasses import dataclass
from typing import Mapping

from escrow.errors import ConfigError

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

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "EscrowSettings":
        values = {name: _int(env, name.upper(), default)
                  for name, default in _INT_DEFAULTS.items()}
        fee_payer = env.get("FEE_PAYER", "seller")
        if fee_payer not in ("seller", "buyer"):
            raise ConfigError("FEE_PAYER must be 'seller' or 'buyer'")
        settings = cls(fee_payer=fee_payer, **values)
        if settings.fee_min > settings.fee_max or settings.order_min > settings.order_max:
            raise ConfigError("FEE_MIN/FEE_MAX or ORDER_MIN/ORDER_MAX are inverted")
        return settings


_INT_DEFAULTS = {name: field.default for name, field in EscrowSettings.__dataclass_fields__.items()
                 if isinstance(field.default, int)}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
