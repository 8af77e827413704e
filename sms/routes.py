"""Africa's Talking's SMS callbacks: check the path token, store the raw form, parse, apply once, answer 200.

AT retries an incoming-message callback every minute until it gets a 200, so every request
that carries the right token is answered 200 "OK", even one we cannot use (it is marked
"malformed" on its stored row). Nothing here logs a phone number or a message text.
"""
import hmac
import logging
from urllib.parse import parse_qsl

from flask import Blueprint, abort, request

from escrow.intake import CallbackNotKept
from sms.errors import MalformedReport
from sms.results import parse_delivery_report, parse_inbound_sms

log = logging.getLogger(__name__)


def make_sms_blueprint(service, *, callback_token: str) -> Blueprint:
    """POST /hooks/sms/delivery/<token> (delivery reports) and /hooks/sms/inbound/<token> (texts to us)."""
    blueprint = Blueprint("sms", __name__)
    routes = {
        "/hooks/sms/delivery/<token>": ("sms_delivery", parse_delivery_report, service.record_sms_delivery),
        "/hooks/sms/inbound/<token>": ("sms_inbound", parse_inbound_sms, service.record_inbound_sms),
    }
    for path, (source, parse, apply) in routes.items():
        service.intake.register(source, _processor(service, parse, apply))
        blueprint.add_url_rule(path, source, _handler(service, callback_token, source), methods=["POST"])
    return blueprint


def _handler(service, callback_token: str, source: str):
    def handle(token: str):
        if not hmac.compare_digest(token.encode(), callback_token.encode()):
            abort(404)
        try:
            callback_id = service.intake.keep(source=source, body=request.get_data(), remote_addr=request.remote_addr)
        except CallbackNotKept:
            abort(503)   # neither the database nor the journal took it: AT sends it again
        if callback_id is not None:
            outcome = service.intake.process(callback_id, source, request.get_data(as_text=True))
            log.info("%s callback #%s: %s", source, callback_id, outcome)
        return "OK", 200
    return handle


def _processor(service, parse, apply):
    """(raw form body, stored callback id) -> outcome: read the form (bounded), parse, apply once."""
    def process(raw: str, callback_id: int) -> str:
        try:
            parsed = parse(read_form(raw))
        except MalformedReport as error:
            service.mark_callback(callback_id, "malformed", str(error))
            return "malformed"
        return apply(parsed, callback_id)
    return process


MAX_FORM_CHARS = 16 * 1024
MAX_FIELDS = 32
# AT's fields that end up in our columns, and how long each may be (escrow/models.py).
FIELD_LIMITS = {"id": 64, "status": 32, "failureReason": 64, "networkCode": 16, "phoneNumber": 32, "from": 32,
                "to": 32, "linkId": 64, "date": 40, "retryCount": 8}
MAX_VALUE_CHARS = 2_000


def read_form(raw: str) -> dict:
    """AT's url-encoded form as {name: first value}, bounded in size and count; a NUL anywhere or a
    value longer than its column is a MalformedReport, never truncated."""
    if len(raw) > MAX_FORM_CHARS:
        raise MalformedReport(f"form longer than {MAX_FORM_CHARS} characters")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as error:
        raise MalformedReport(f"unreadable form: {error}") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise MalformedReport("a field holds a NUL character")
        if len(value) > FIELD_LIMITS.get(name, MAX_VALUE_CHARS):
            raise MalformedReport(f"{name[:20]} longer than {FIELD_LIMITS.get(name, MAX_VALUE_CHARS)} characters")
        form.setdefault(name, value)
    return form
