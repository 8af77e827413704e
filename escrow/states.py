"""Order states and the one table of allowed transitions. Anything not listed raises."""
from enum import Enum

from escrow.errors import InvalidTransition


class State(str, Enum):
    REQUESTED = "requested"                # a seller asked; the buyer has not accepted yet
    AWAITING_PAYMENT = "awaiting_payment"
    CHECKING_PAYMENT = "checking_payment"  # past pay-by, but a push may have reached M-Pesa: still payable
    FUNDED = "funded"
    DISPATCHED = "dispatched"
    DISPUTED = "disputed"                  # payout frozen until an operator decides
    RELEASED = "released"                  # the seller's payout is queued
    REFUNDING = "refunding"                # the buyer's refund is queued
    SETTLING = "settling"                  # a split: payout and refund both queued
    PAID_OUT = "paid_out"
    REFUNDED = "refunded"
    SETTLED = "settled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    NEEDS_REVIEW = "needs_review"          # money arrived that did not match: an operator decides


class Event(str, Enum):
    REQUEST_ACCEPTED = "request_accepted"
    REQUEST_DECLINED = "request_declined"
    REQUEST_EXPIRED = "request_expired"
    PAYMENT_RECEIVED = "payment_received"
    PAYMENT_EXPIRED = "payment_expired"
    PAYMENT_IN_DOUBT = "payment_in_doubt"          # pay-by passed while a push may have reached M-Pesa
    PAYMENT_MISMATCHED = "payment_mismatched"
    CANCELLED_BY_BUYER = "cancelled_by_buyer"
    CANCELLED_BY_SELLER = "cancelled_by_seller"
    DISPATCHED = "dispatched"
    DELIVERY_CONFIRMED = "delivery_confirmed"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_RELEASED = "dispute_released"
    DISPUTE_REFUNDED = "dispute_refunded"
    DISPUTE_SPLIT = "dispute_split"
    DISPATCH_DEADLINE_PASSED = "dispatch_deadline_passed"
    INSPECTION_WINDOW_PASSED = "inspection_window_passed"
    PAYOUT_SUCCEEDED = "payout_succeeded"
    REFUND_SUCCEEDED = "refund_succeeded"
    SPLIT_SETTLED = "split_settled"
    REVIEW_REFUNDED = "review_refunded"
    CANCELLED_BY_OPERATOR = "cancelled_by_operator"   # an admin in the console (escrow/operator_cancel.py)


S, E = State, Event
TRANSITIONS: dict[tuple[State, Event], State] = {
    (S.REQUESTED, E.REQUEST_ACCEPTED): S.AWAITING_PAYMENT,
    (S.REQUESTED, E.REQUEST_DECLINED): S.DECLINED,
    (S.REQUESTED, E.REQUEST_EXPIRED): S.EXPIRED,
    (S.AWAITING_PAYMENT, E.PAYMENT_RECEIVED): S.FUNDED,
    (S.AWAITING_PAYMENT, E.PAYMENT_EXPIRED): S.EXPIRED,
    (S.AWAITING_PAYMENT, E.CANCELLED_BY_BUYER): S.CANCELLED,
    (S.AWAITING_PAYMENT, E.PAYMENT_MISMATCHED): S.NEEDS_REVIEW,
    (S.AWAITING_PAYMENT, E.PAYMENT_IN_DOUBT): S.CHECKING_PAYMENT,
    (S.CHECKING_PAYMENT, E.PAYMENT_RECEIVED): S.FUNDED,
    (S.CHECKING_PAYMENT, E.PAYMENT_MISMATCHED): S.NEEDS_REVIEW,
    (S.CHECKING_PAYMENT, E.PAYMENT_EXPIRED): S.EXPIRED,   # every push settled unpaid, or the statement says so
    (S.FUNDED, E.DISPATCHED): S.DISPATCHED,
    (S.FUNDED, E.DELIVERY_CONFIRMED): S.RELEASED,
    (S.DISPATCHED, E.DELIVERY_CONFIRMED): S.RELEASED,
    (S.FUNDED, E.CANCELLED_BY_SELLER): S.REFUNDING,
    (S.DISPATCHED, E.CANCELLED_BY_SELLER): S.REFUNDING,
    (S.FUNDED, E.DISPUTE_OPENED): S.DISPUTED,
    (S.DISPATCHED, E.DISPUTE_OPENED): S.DISPUTED,
    (S.DISPUTED, E.DISPUTE_RELEASED): S.RELEASED,
    (S.DISPUTED, E.DISPUTE_REFUNDED): S.REFUNDING,
    (S.DISPUTED, E.DISPUTE_SPLIT): S.SETTLING,
    (S.FUNDED, E.DISPATCH_DEADLINE_PASSED): S.REFUNDING,
    (S.DISPATCHED, E.INSPECTION_WINDOW_PASSED): S.RELEASED,
    (S.RELEASED, E.PAYOUT_SUCCEEDED): S.PAID_OUT,
    (S.REFUNDING, E.REFUND_SUCCEEDED): S.REFUNDED,
    (S.SETTLING, E.SPLIT_SETTLED): S.SETTLED,
    (S.NEEDS_REVIEW, E.REVIEW_REFUNDED): S.REFUNDING,
    (S.REQUESTED, E.CANCELLED_BY_OPERATOR): S.CANCELLED,
    (S.AWAITING_PAYMENT, E.CANCELLED_BY_OPERATOR): S.CANCELLED,
    (S.FUNDED, E.CANCELLED_BY_OPERATOR): S.REFUNDING,
    (S.DISPATCHED, E.CANCELLED_BY_OPERATOR): S.REFUNDING,
}

TERMINAL = frozenset({S.PAID_OUT, S.REFUNDED, S.SETTLED, S.EXPIRED, S.CANCELLED, S.DECLINED})
OPEN_FOR_DELIVERY = frozenset({S.FUNDED, S.DISPATCHED})
HOLDING = frozenset({S.FUNDED, S.DISPATCHED, S.DISPUTED})   # the escrow holds the whole charge
PAYABLE = frozenset({S.AWAITING_PAYMENT, S.CHECKING_PAYMENT})  # money in for the order funds it


def next_state(state: State | str, event: Event | str) -> State:
    """The state `event` leads to from `state`, or InvalidTransition."""
    key = (State(state), Event(event))
    if key not in TRANSITIONS:
        raise InvalidTransition(key[0].value, key[1].value)
    return TRANSITIONS[key]
