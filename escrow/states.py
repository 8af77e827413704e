"""Order states and the one table of allowed transitions. Anything not listed raises."""
from enum import Enum

from escrow.errors import InvalidTransition


class State(str, Enum):
    AWAITING_PAYMENT = "awaiting_payment"
    FUNDED = "funded"
    RELEASED = "released"      # code accepted, payout queued
    PAID_OUT = "paid_out"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    NEEDS_REVIEW = "needs_review"


class Event(str, Enum):
    PAYMENT_RECEIVED = "payment_received"
    DELIVERY_CONFIRMED = "delivery_confirmed"
    PAYOUT_SUCCEEDED = "payout_succeeded"
    PAYMENT_EXPIRED = "payment_expired"
    CANCELLED_BY_BUYER = "cancelled_by_buyer"
    PAYMENT_MISMATCHED = "payment_mismatched"


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.AWAITING_PAYMENT, Event.PAYMENT_RECEIVED): State.FUNDED,
    (State.AWAITING_PAYMENT, Event.PAYMENT_EXPIRED): State.EXPIRED,
    (State.AWAITING_PAYMENT, Event.CANCELLED_BY_BUYER): State.CANCELLED,
    (State.AWAITING_PAYMENT, Event.PAYMENT_MISMATCHED): State.NEEDS_REVIEW,
    (State.FUNDED, Event.DELIVERY_CONFIRMED): State.RELEASED,
    (State.RELEASED, Event.PAYOUT_SUCCEEDED): State.PAID_OUT,
}

TERMINAL = frozenset({State.PAID_OUT, State.EXPIRED, State.CANCELLED})
OPEN_FOR_DELIVERY = frozenset({State.FUNDED})


def next_state(state: State | str, event: Event | str) -> State:
    """The state `event` leads to from `state`, or InvalidTransition."""
    key = (State(state), Event(event))
    if key not in TRANSITIONS:
        raise InvalidTransition(key[0].value, key[1].value)
    return TRANSITIONS[key]
