"""The USSD adapter's own errors, rooted at UssdError."""


class UssdError(Exception):
    """Root of every error the USSD adapter raises on purpose."""


class InvalidInput(UssdError):
    """What the caller typed does not fit the screen; `key` names the catalog message."""

    def __init__(self, key: str, **params):
        super().__init__(key)
        self.key = key
        self.params = params


class SessionExpired(UssdError):
    """A hop arrived for a session the store no longer holds (or one that already ended)."""


class StoreUnavailable(UssdError):
    """The session store could not be reached, or a hop could not take the session's lock."""


class RateLimited(UssdError):
    """The phone number sent more hops than the per-minute limit allows."""
