"""The core's exceptions, all rooted at EscrowError so adapters can map them in one place."""


class EscrowError(Exception):
    """Root of every error the core raises on purpose."""


class InvalidAmount(EscrowError):
    """An amount that is not a positive whole number of shillings."""


class InvalidPhoneNumber(EscrowError):
    """A phone number that is not a Kenyan mobile number."""


class InvalidTransition(EscrowError):
    """An event that the order's current state does not allow."""

    def __init__(self, state, event):
        super().__init__(f"event {event!r} is not allowed in state {state!r}")
        self.state = state
        self.event = event


class LimitExceeded(EscrowError):
    """A configured limit refused the request; `limit` names it and `value` is its setting."""

    def __init__(self, limit: str, value: int):
        super().__init__(f"{limit} limit ({value}) reached")
        self.limit = limit
        self.value = value


class OrderNotFound(EscrowError):
    """No order matches the reference, code or caller given."""


class NotAllowed(EscrowError):
    """The caller's role on the order does not permit the action."""


class SellerNotAccepted(NotAllowed):
    """The buyer tried to release money to a seller who has not yet acted on the order from their line."""

    def __init__(self, reference: str):
        super().__init__(f"the seller has not accepted order {reference}")
        self.reference = reference


class ConfigError(EscrowError):
    """A missing or malformed setting, named in the message."""


class WrongCode(EscrowError):
    """No open order of the caller's matches the code; `remaining` tries are left before a lock."""

    def __init__(self, remaining: int):
        super().__init__(f"wrong delivery code ({remaining} tries left)")
        self.remaining = remaining


class CodeLocked(EscrowError):
    """Too many wrong codes: code entry is refused until the buyer issues a fresh code."""


class CallerLocked(CodeLocked):
    """This number guessed wrong too often in a day: no new code helps until the day has passed."""
