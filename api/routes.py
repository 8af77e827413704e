"""The /v1 blueprint: API key, scope, rate limit, Idempotency-Key and phone token around each
operation of api/operations.py; every error is an RFC 9457 problem document."""
import logging
import re
from dataclasses import dataclass

from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from api import idempotency, records
from api.keys import Caller, RateLimiter, caller_for
from api.operations import OPERATIONS, Operation
from api.problems import PROBLEM_JSON, ApiError, from_core, problem
from api.verifications import VerificationSettings, phone_of_token
from escrow.errors import EscrowError, OrderNotFound

log = logging.getLogger(__name__)
PHONE_TOKEN_HEADER = "Zemi-Phone-Token"


@dataclass
class Context:
    """What an operation may use: the core's service and the request's caller."""
    service: object
    db: object
    core: object
    verification: VerificationSettings
    public_base_url: str
    link_seconds: int
    caller: Caller | None = None
    phone: str | None = None

    @property
    def reaches_every_order(self) -> bool:
        """A phone token acts on the number's orders made through this integration only, unless the key
        has `orders:any` (an app serving the person across channels): the code a buyer gave one shop
        must not let it read or act on their orders with others."""
        return "orders:any" in self.caller.scopes

    def link_url(self, token: str) -> str:
        return f"{self.public_base_url}/p/{token}"


class Empty(BaseModel):
    model_config = {"extra": "forbid"}


def make_api_blueprint(context: Context, limiter: RateLimiter) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="")
    for op in OPERATIONS:
        bp.add_url_rule(re.sub(r"\{(\w+)\}", r"<\1>", op.path), op.name, _view(op, context, limiter),
                        methods=[op.method])
    bp.register_error_handler(ApiError, _answer_problem)
    bp.register_error_handler(HTTPException, _http_problem)

    @bp.app_errorhandler(404)
    @bp.app_errorhandler(405)
    def unrouted(error):   # a path under /v1 that matches no operation still answers in problem+json
        return _http_problem(error) if request.path.startswith("/v1/") else error
    return bp


def _view(op: Operation, base: Context, limiter: RateLimiter):
    def view(**path):
        ctx = Context(**{**base.__dict__})
        ctx.caller = _authorise(op, ctx, limiter)
        if op.method != "POST":
            return _run(op, ctx, path)
        record_id, stored = idempotency.claim(
            ctx.db, ctx.caller.key_id, request.headers.get("Idempotency-Key", ""),
            idempotency.request_fingerprint(request.method, request.path, request.get_data(),
                                            request.headers.get(PHONE_TOKEN_HEADER)))
        if stored is not None:
            return _respond(stored, replayed=True)
        answer = _run(op, ctx, path)
        idempotency.store(ctx.db, record_id, idempotency.StoredResponse(
            answer.status_code, answer.get_data(as_text=True), answer.content_type))
        return answer
    view.__name__ = op.name
    return view


def _authorise(op: Operation, ctx: Context, limiter: RateLimiter) -> Caller:
    header = request.headers.get("Authorization", "")
    caller = caller_for(ctx.db, header[7:].strip() if header[:7].lower() == "bearer " else None)
    if caller is None:
        raise problem("unauthorized", "send Authorization: Bearer <API key>")
    wait = limiter.retry_after(caller.key_id)
    if wait is not None:
        raise problem("rate-limited", f"try again in {wait} s", retry_after=wait)
    if op.scope not in caller.scopes:
        raise problem("insufficient-scope", f"this needs the {op.scope!r} scope", scope=op.scope)
    return caller


def _run(op: Operation, ctx: Context, path: dict) -> Response:
    """The operation's answer, or its refusal as a problem (both are what an idempotent replay returns)."""
    try:
        if op.phone:
            ctx.phone = phone_of_token(ctx.db, ctx.core, ctx.caller.key_id, request.headers.get(PHONE_TOKEN_HEADER))
            if ctx.phone is None:
                raise problem("phone-token-required", f"send {PHONE_TOKEN_HEADER} from POST /v1/verifications")
            if "reference" in path and not ctx.reaches_every_order and not records.is_integrations_order(
                    ctx.db, path["reference"][:20], ctx.caller.integration):
                raise OrderNotFound("no such order for this number")   # the number's orders elsewhere are not ours
        args = dict(path)
        if op.method == "POST":
            body = _body(op.body or Empty)
            if op.body is not None:
                args["body"] = body
        args.update(_query(op))
        result = op.handler(ctx, **args)
        return Response(result.model_dump_json(), status=op.status, mimetype="application/json")
    except ApiError as error:
        return _problem_response(error)
    except EscrowError as error:
        return _problem_response(from_core(error))
    except Exception:  # noqa: BLE001 -- answered (and, for a POST, stored) like any other outcome
        log.exception("api %s failed", op.name)
        return _problem_response(problem("server-error"))


def _body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data() or b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        details = [{"loc": [str(part) for part in e["loc"]], "msg": e["msg"]} for e in error.errors()]
        raise problem("validation-error", "see errors", errors=details) from None


def _query(op: Operation) -> dict:
    values = {}
    for name, schema, _ in op.query:
        raw = request.args.get(name)
        if raw is None:
            continue
        if not re.fullmatch(r"[0-9]{1,7}", raw) or not schema["minimum"] <= int(raw) <= schema["maximum"]:
            raise problem("validation-error", f"{name} must be a whole number from {schema['minimum']} to "
                                              f"{schema['maximum']}")
        values[name] = int(raw)
    return values


def _problem_response(error: ApiError) -> Response:
    response = Response(error.to_json(request.path), status=error.status, mimetype=PROBLEM_JSON)
    if "retry_after" in error.extra:
        response.headers["Retry-After"] = str(error.extra["retry_after"])
    return response


def _answer_problem(error: ApiError) -> Response:
    return _problem_response(error)


def _http_problem(error: HTTPException) -> Response:
    slugs = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}
    slug = slugs.get(error.code)
    if slug is None:
        return _problem_response(ApiError(error.code or 500, "http-" + str(error.code), error.name or "Error"))
    return _problem_response(problem(slug))


def _respond(stored: idempotency.StoredResponse, *, replayed: bool) -> Response:
    response = Response(stored.body, status=stored.status, content_type=stored.content_type)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
