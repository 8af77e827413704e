"""Account Balance results: `/hooks/balance/result/<token>/s<shortcode>/<tag>` (the shortcode asked about is
in the path we gave Daraja, as the result does not name it; the tag, made with SECRET_KEY for that shortcode,
is what makes it an answer we asked for: one without it, or with another, is kept 'rejected' and changes
nothing). Stored raw first, like every callback."""
import logging

from flask import Blueprint, has_request_context, jsonify, request

from escrow.statement.balances import balance_reply_is_ours, record_balance
from mpesa.balance import parse_balance_result
from mpesa.callback_values import read_json
from mpesa.errors import MalformedCallback
from mpesa.routes import ACCEPTED, admit_callback

log = logging.getLogger(__name__)


def make_balance_blueprint(service, db, core, *, callback_token: str, guard, b2c_shortcode: str | None,
                           settings) -> Blueprint:
    blueprint = Blueprint("mpesa_balance", __name__)

    def apply_answer(raw: str, callback_id: int) -> str:
        """Parse (bounded, like every callback) and store the answer; errors are mapped by the intake."""
        shortcode = (request.view_args or {}).get("shortcode") if has_request_context() else None
        if shortcode is None:   # replayed from the journal: the path is gone; the next query answers again
            service.mark_callback(callback_id, "inconclusive", "balance answer kept while the database was away")
            return "inconclusive"
        try:
            answer = parse_balance_result(read_json(raw), shortcode)
        except MalformedCallback as error:
            service.mark_callback(callback_id, "malformed", str(error))
            return "malformed"
        if not balance_reply_is_ours(core, shortcode, (request.view_args or {}).get("tag")):
            service.mark_callback(callback_id, "rejected", "reply tag missing or not ours: not an answer we asked for")
            log.warning("balance callback #%s refused: its reply tag is not ours", callback_id)
            return "rejected"
        with db.transaction() as session:
            outcome = record_balance(session, core, answer, b2c_shortcode, settings)
        service.mark_callback(callback_id, "inconclusive" if outcome == "failed" else "applied", outcome)
        return outcome

    def timed_out(raw: str, callback_id: int) -> str:
        service.mark_callback(callback_id, "inconclusive", "balance query timed out in Daraja's queue")
        return "inconclusive"

    service.intake.register("balance", apply_answer)
    service.intake.register("balance_timeout", timed_out)

    @blueprint.post("/hooks/balance/result/<token>/s<shortcode>")
    @blueprint.post("/hooks/balance/result/<token>/s<shortcode>/<tag>")
    def balance_result(token, shortcode, tag=None):
        return _taken_in(service, callback_token, guard, "balance", token)

    @blueprint.post("/hooks/balance/timeout/<token>/s<shortcode>")
    @blueprint.post("/hooks/balance/timeout/<token>/s<shortcode>/<tag>")
    def balance_timeout(token, shortcode, tag=None):
        return _taken_in(service, callback_token, guard, "balance_timeout", token)

    return blueprint


def _taken_in(service, callback_token: str, guard, source: str, token: str):
    callback_id, allowed = admit_callback(service, callback_token, guard, source, token)
    if callback_id is not None and allowed:   # None: journaled while the database is away
        outcome = service.intake.process(callback_id, source, request.get_data(as_text=True))
        log.info("%s callback #%s: %s", source, callback_id, outcome)
    return jsonify(ACCEPTED)
