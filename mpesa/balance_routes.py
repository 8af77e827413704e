"""Account Balance results: `/hooks/balance/result/<token>/s<shortcode>` (the shortcode asked about is
in the path we gave Daraja, as the result does not name it). Stored raw first, like every callback."""
import logging

from flask import Blueprint, jsonify, request

from escrow.float_check import record_balance
from mpesa.balance import parse_balance_result
from mpesa.errors import MalformedCallback
from mpesa.routes import ACCEPTED, admit_callback

log = logging.getLogger(__name__)


def make_balance_blueprint(service, db, core, *, callback_token: str, guard, b2c_shortcode: str | None,
                           settings) -> Blueprint:
    blueprint = Blueprint("mpesa_balance", __name__)

    @blueprint.post("/hooks/balance/result/<token>/s<shortcode>")
    def balance_result(token, shortcode):
        callback_id, allowed = admit_callback(service, callback_token, guard, "balance", token)
        if callback_id is None or not allowed:   # journaled (the database is away: the next query answers) or refused
            return jsonify(ACCEPTED)
        try:
            answer = parse_balance_result(request.get_json(force=True, silent=True), shortcode)
        except MalformedCallback as error:
            service.mark_callback(callback_id, "malformed", str(error))
            return jsonify(ACCEPTED)
        with db.transaction() as session:
            outcome = record_balance(session, core, answer, b2c_shortcode, settings)
        service.mark_callback(callback_id, "inconclusive" if outcome == "failed" else "applied", outcome)
        log.info("balance result #%s for %s: %s", callback_id, shortcode, outcome)
        return jsonify(ACCEPTED)

    @blueprint.post("/hooks/balance/timeout/<token>/s<shortcode>")
    def balance_timeout(token, shortcode):
        callback_id, allowed = admit_callback(service, callback_token, guard, "balance_timeout", token)
        if callback_id is not None and allowed:
            service.mark_callback(callback_id, "inconclusive", "balance query timed out in Daraja's queue")
        return jsonify(ACCEPTED)

    return blueprint
