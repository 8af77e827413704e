"""The SMS adapter's exceptions, all rooted at SmsError."""


class SmsError(Exception):
    """Root of every error the SMS adapter raises on purpose."""


class SmsSendError(SmsError):
    """A whole send request failed (no per-recipient answer to read).

    `retryable` says whether sending again may succeed. `ambiguous` says the
    request may already have reached Africa's Talking (a read timeout, a dropped
    connection after sending, a 2xx we could not read), so a retry could send the
    text twice. `http_status` is the provider's HTTP status when one arrived.
    `detail` is short and never holds the API key or the message text.
    """

    def __init__(self, detail: str, *, retryable: bool, http_status: int | None = None,
                 ambiguous: bool = False):
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.http_status = http_status
        self.ambiguous = ambiguous

    def __repr__(self):
        return (f"SmsSendError({self.detail!r}, retryable={self.retryable}, "
                f"http_status={self.http_status}, ambiguous={self.ambiguous})")


class MalformedReport(SmsError):
    """A delivery report or incoming-message form we cannot use (e.g. no message id)."""
