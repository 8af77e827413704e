"""What the core needs from the outside world, named by role. Adapters implement these."""
from dataclasses import dataclass
from typing import Protocol

from escrow.errors import EscrowError


class ProviderError(EscrowError):
    """A call to an outside provider failed. `ambiguous`: it may have been acted on (a read
    timeout); `retryable`: sending it again is safe and may succeed."""

    def __init__(self, message: str, *, ambiguous: bool = False, retryable: bool = True):
        super().__init__(message)
        self.ambiguous = ambiguous
        self.retryable = retryable


class GatewayError(ProviderError):
    """A payment-provider call failed; an ambiguous payout is settled by a status query, never re-sent."""


@dataclass(frozen=True)
class PaymentRequested:
    checkout_id: str
    merchant_request_id: str


@dataclass(frozen=True)
class PaymentStatus:
    pending: bool
    result_code: str | None
    description: str


@dataclass(frozen=True)
class PayoutRequested:
    conversation_id: str


class PaymentGateway(Protocol):
    def request_payment(self, *, phone: str, amount: int, reference: str, description: str) -> PaymentRequested: ...

    def query_payment(self, checkout_id: str) -> PaymentStatus: ...

    def send_payout(self, *, originator_id: str, phone: str, amount: int, remarks: str,
                    reply_to: str | None = None) -> PayoutRequested:
        """`reply_to` (`<id>/<tag>`, escrow.payouts.transfer_reply) goes at the end of the result URLs."""

    def query_payout(self, *, originator_id: str, reply_to: str | None = None) -> None:
        """Ask for a payout's status; the answer arrives at a result URL ending in `reply_to`."""


class SmsError(ProviderError):
    """An SMS provider call failed."""

    def __init__(self, message: str, *, retryable: bool, ambiguous: bool = False):
        super().__init__(message, ambiguous=ambiguous, retryable=retryable)


@dataclass(frozen=True)
class SmsReceipt:
    accepted: bool
    retryable: bool
    message_id: str | None
    status: str
    cost: str | None = None


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> SmsReceipt: ...


@dataclass(frozen=True)
class ReversalRequested:
    conversation_id: str
    originator_conversation_id: str


class MoneyInGateway(Protocol):
    """Checks on money in, and Reversal (escrow/confirmation.py, escrow/reversals.py). Answers arrive
    as callbacks at result URLs ending in `reply_to` (escrow.reversals.reply_tag)."""

    def query_paybill_payment(self, *, trans_id: str, reply_to: str) -> None: ...

    def reverse_payment(self, *, trans_id: str, amount: int, reply_to: str) -> ReversalRequested: ...

    def query_reversal(self, *, trans_id: str, reply_to: str) -> None: ...
