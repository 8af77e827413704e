"""How much money the service may send back on its own, before a person must look.

Money for an order that can no longer take it (paid twice, expired, cancelled) goes back
automatically, but a flood of such payments (forged or not) must not become a flood of money out:
at most AUTO_RETURNS_PER_ORDER returns per order, AUTO_RETURNS_PER_DAY returns and
AUTO_RETURNS_KES_PER_DAY shillings in any 24 hours. Beyond them the money is owed back
(refunds_payable) with a finding, never sent.
"""
from dataclasses import dataclass, fields
from typing import Mapping

from escrow.settings import read_int

SETTINGS = {"per_order": "AUTO_RETURNS_PER_ORDER", "per_day": "AUTO_RETURNS_PER_DAY",
            "amount_per_day": "AUTO_RETURNS_KES_PER_DAY"}


@dataclass(frozen=True)
class ReturnLimits:
    per_order: int = 1
    per_day: int = 20
    amount_per_day: int = 100_000

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "ReturnLimits":
        return cls(**{field.name: read_int(env, SETTINGS[field.name], field.default) for field in fields(cls)})
