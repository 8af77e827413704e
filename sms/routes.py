"""Africa's Talking's SMS callbacks: check the path token, store the raw form, parse, apply once, answer 200.

AT retries an incoming-message callback every minute until it gets a 200, so every request
that carries the right token is answered 200 "OK", even one we cannot use (it is marked
"malformed" on its stored row). Nothing here logs a phone number or a message text.
"""
import hmac
import logging

from flask import Blueprint, abort, request

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
        blueprint.add_url_rule(path, source, _handler(service, callback_token, source, parse, apply),
                               methods=["POST"])
    return blueprint


def _handler(service, callback_token: str, source: str, parse, apply):
    def handle(token: str):
        if not hmac.compare_digest(token.encode(), callback_token.encode()):
            abort(404)
        callback_id = service.store_callback(source=source, body=request.get_data(),
                                             remote_addr=request.remote_addr)
        try:
            parsed = parse(request.form)
        except MalformedReport as error:
            service.mark_callback(callback_id, "malformed", str(error))
            return "OK", 200
        outcome = apply(parsed, callback_id)
        log.info("%s callback #%s: %s", source, callback_id, outcome)
        return "OK", 200
    return handle
