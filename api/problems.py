"""RFC 9457 problem details: one stable `type` per kind of error, and the core's errors mapped once."""
import json

from escrow.errors import (CodeLocked, EscrowError, InvalidAmount, InvalidPhoneNumber, InvalidTransition,
                           LimitExceeded, NotAllowed, OrderNotFound, WrongCode)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:zemi:problem:"


class ApiError(Exception):
    """Root of the API adapter's errors: each one is answered as a problem document."""

    def __init__(self, status: int, slug: str, title: str, detail: str = "", **extra):
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail, self.extra = status, slug, title, detail, extra

    def body(self, instance: str | None = None) -> dict:
        document = {"type": TYPE_PREFIX + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            document["detail"] = self.detail
        if instance:
            document["instance"] = instance
        return {**document, **self.extra}

    def to_json(self, instance: str | None = None) -> str:
        return json.dumps(self.body(instance))


# slug -> (status, title): the catalogue the OpenAPI document and the README list.
PROBLEMS = {
    "unauthorized": (401, "A valid API key is required"),
    "insufficient-scope": (403, "The API key lacks the scope this needs"),
    "phone-token-required": (401, "A phone token for a party to this order is required"),
    "not-a-party": (403, "The verified number may not do this"),
    "rate-limited": (429, "Too many requests for this API key"),
    "idempotency-key-missing": (400, "POST requests need an Idempotency-Key header"),
    "idempotency-key-reused": (422, "This Idempotency-Key was used with another request"),
    "idempotency-in-progress": (409, "A request with this Idempotency-Key is still being processed"),
    "validation-error": (422, "The request body is not valid"),
    "invalid-amount": (422, "The amount is not a valid whole number of shillings"),
    "invalid-phone-number": (422, "Not a Kenyan mobile number"),
    "limit-exceeded": (429, "A limit on orders or payment prompts was reached"),
    "order-not-found": (404, "No such order for this number"),
    "not-found": (404, "Not found"),
    "not-allowed": (409, "The order's state does not allow this now"),
    "wrong-code": (422, "The code is wrong"),
    "code-locked": (423, "Code entry is locked"),
    "verification-expired": (410, "The verification code has expired"),
    "verification-used": (409, "The verification was already used"),
    "method-not-allowed": (405, "Method not allowed"),
    "payload-too-large": (413, "The request body is too large"),
    "rejected": (422, "The request was refused"),
    "server-error": (500, "Something went wrong on our side"),
}


def problem(slug: str, detail: str = "", **extra) -> ApiError:
    status, title = PROBLEMS[slug]
    return ApiError(status, slug, title, detail, **extra)


def from_core(error: EscrowError) -> ApiError:
    """The core's refusal as a problem; messages are the core's own, which name no phone number."""
    if isinstance(error, WrongCode):
        return problem("wrong-code", str(error), remaining=error.remaining)
    if isinstance(error, CodeLocked):
        return problem("code-locked", str(error))
    if isinstance(error, LimitExceeded):
        if error.limit in ("order_min", "order_max"):
            return problem("invalid-amount", str(error), limit=error.limit, value=error.value)
        return problem("limit-exceeded", str(error), limit=error.limit, value=error.value)
    if isinstance(error, InvalidAmount):
        return problem("invalid-amount", str(error))
    if isinstance(error, InvalidPhoneNumber):
        return problem("invalid-phone-number", "not a Kenyan mobile number")
    if isinstance(error, OrderNotFound):
        return problem("order-not-found")
    if isinstance(error, (NotAllowed, InvalidTransition)):
        return problem("not-allowed", str(error))
    return problem("rejected", str(error))
