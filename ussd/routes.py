"""Flask face of the USSD adapter: AT's session callback and its end-of-session events.

Routes (POST, form-encoded, answered 200 text/plain):
  /ussd and /ussd/events                      when no USSD_PATH_TOKEN is set
  /ussd/<token> and /ussd/<token>/events      when it is set; the bare paths and any wrong
                                              token then answer 404
A caller outside USSD_ALLOWED_IPS gets 403. Everything else gets "CON ..." or "END ...", including
a body longer than MAX_BODY_BYTES, which is not read: it gets a polite END (status 200, as AT expects).
In the app, ussd/lane.py answers the ordinary hop before Flask does (same answer, same metrics); anything
out of the ordinary comes here.
"""
import hmac
import logging

from flask import Blueprint, Response, abort, request
from werkzeug.exceptions import RequestEntityTooLarge

from escrow.catalog import DEFAULT_LANGUAGE, render

from ussd.conversation import Conversation, Hop
from ussd.events import event_record

log = logging.getLogger("ussd")
# AT's form is a few ids and the session's text (every answer so far, ~1 KB in a long session).
MAX_BODY_BYTES = 8 * 1024


def make_ussd_blueprint(service, store, settings, *, recorder=None) -> Blueprint:
    """The USSD blueprint over `service` (the escrow core's contract), `store` (RedisSessionStore)
    and `settings` (UssdSettings). `recorder(event)` receives end-of-session events; without
    one they go to `store.record_event`."""
    conversation = Conversation(service, store, settings)
    if hasattr(service, "watch_orders"):   # a limits pass kept in Redis goes when an order is made for the number
        service.watch_orders(store.forget_limit_passes)
    record = recorder or store.record_event
    blueprint = Blueprint("ussd", __name__)
    blueprint.max_body_bytes = MAX_BODY_BYTES   # enforced by the app before any view runs (app.py)
    blueprint.conversation, blueprint.ussd_settings = conversation, settings   # for ussd/lane.py

    @blueprint.errorhandler(RequestEntityTooLarge)
    def too_long(_error):
        # The caller's number (and so their language) is in the body we refused to read.
        return _plain("END " + render(DEFAULT_LANGUAGE, "ussd.err.too_long"))

    @blueprint.post("/ussd", defaults={"token": None})
    @blueprint.post("/ussd/<token>")
    def session(token):
        _guard(settings, token)
        hop = _hop(request.form)
        if not hop.session_id or not hop.phone:
            abort(400)
        answer = conversation.answer(hop)
        return _plain(answer.reply.body, {"at-ussd-hop-metadata": answer.screen})

    @blueprint.post("/ussd/events", defaults={"token": None})
    @blueprint.post("/ussd/<token>/events")
    def session_ended(token):
        _guard(settings, token)
        found = _session_record(store, request.form)
        _record_safely(record, event_record(request.form, found.get("hops"), private=bool(found.get("private"))))
        return _plain("OK")

    return blueprint


def _guard(settings, token: str | None) -> None:
    refused = refusal(settings, token, request.headers.get("X-Forwarded-For", ""), request.remote_addr)
    if refused:
        abort(refused)


def refusal(settings, token: str | None, forwarded: str, remote_addr: str | None) -> int | None:
    """404 for a missing or wrong path token, 403 for a caller outside the allow-list, else None."""
    expected = settings.path_token
    if bool(expected) != bool(token) or (expected and not hmac.compare_digest(token, expected)):
        return 404
    if not settings.allows(caller_address(settings, forwarded, remote_addr)):
        return 403
    return None


def caller_address(settings, forwarded: str, remote_addr: str | None) -> str:
    if settings.trust_proxy and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return remote_addr or ""


def _hop(form) -> Hop:
    return Hop(session_id=str(form.get("sessionId", "")), phone=str(form.get("phoneNumber", "")).strip(),
               text=str(form.get("text", "") or ""), network=str(form.get("networkCode", "")))


def _plain(body: str, headers: dict | None = None) -> Response:
    return Response(body, status=200, mimetype="text/plain", headers=headers or {})


def _session_record(store, form) -> dict:
    """The session's record (its timings, whether its last screen was private), or {} if gone."""
    try:
        return store.load(str(form.get("sessionId", ""))) or {}
    except Exception:  # noqa: BLE001 - timings are a nicety
        return {}


def _record_safely(record, event: dict) -> None:
    try:
        record(event)
    except Exception as exc:  # noqa: BLE001 - analytics must not fail the gateway
        log.warning("ussd event not recorded: %s", type(exc).__name__)
