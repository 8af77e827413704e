"""One rooted hierarchy for everything the Daraja adapter raises on purpose."""


class DarajaError(Exception):
    """Root: carries Daraja's HTTP context when there was any."""

    def __init__(self, message: str = "", *, http_status: int | None = None,
                 error_code: str | None = None, request_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.error_code = error_code
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [p for p in (self.error_code, self.message) if p]
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        return " ".join(parts) or self.__class__.__name__


class DarajaTimeout(DarajaError):
    """No answer in time after the request was sent: Daraja MAY have processed it.

    Never re-send a money-moving call on this; resolve it with a status query.
    """


class DarajaUnreachable(DarajaError):
    """The connection was never established: the request surely did not reach Daraja."""


class DarajaNotSent(DarajaUnreachable):
    """Failed before any byte of the request left (no access token: OAuth or its Redis store
    failed): surely not received, and the same request may be sent again later."""


class DarajaInvalidRequest(DarajaError, ValueError):
    """We refused to build the request (a value Daraja would refuse): surely not received, and
    sending it again would not help."""


class DarajaRejected(DarajaError):
    """Daraja answered with an error envelope or a non-2xx status."""


class DarajaAuthError(DarajaRejected):
    """OAuth failed, or an API refused our access token."""


class MalformedCallback(DarajaError):
    """A callback body we cannot turn into a typed result; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
