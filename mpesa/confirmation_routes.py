"""Answers to the checks we send about money in, and to reversals (issue 11 finding 3).

Each result URL names what it answers and carries a tag only we can make (SECRET_KEY):
/hooks/<what>/<CALLBACK_TOKEN>/<id>/<tag>. The body is stored first like any callback; a wrong
tag is acknowledged, kept as 'rejected' and has no effect, so holding the callback token is not
enough to confirm a forged payment or settle a reversal.

  c2b/status            Transaction Status on a held paybill TransID -> escrow.confirmation
  c2b/status-timeout    its queue timeout: nothing to do, the next check is already scheduled
  reversal/result       a Reversal's Result -> escrow.reversals
  reversal/status       Transaction Status on the reversed TransID: 'Reversed' settles it
  reversal/timeout      a queue timeout: the status checks settle it
"""
import logging

from flask import Blueprint, jsonify, request

from escrow.confirmation import C2B_STATUS, PaybillVerdict
from escrow.reversals import REVERSAL, ReversalResult
from mpesa.errors import MalformedCallback
from mpesa.results import parse_transaction_status_result, read_json
from mpesa.routes import admit_callback

log = logging.getLogger(__name__)
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def make_money_in_blueprint(service, checks, *, callback_token: str, guard=None) -> Blueprint:
    """`service` stores and marks callbacks; `checks` is escrow.confirmation.MoneyInChecks."""
    blueprint = Blueprint("mpesa_money_in", __name__)
    routes = {
        "c2b/status": ("c2b_status", C2B_STATUS, _paybill_verdict, checks.record_paybill_verdict),
        "c2b/status-timeout": ("c2b_status_timeout", C2B_STATUS, None, None),
        "reversal/result": ("reversal_result", REVERSAL, _reversal_result, checks.record_reversal_result),
        "reversal/status": ("reversal_status", REVERSAL, _reversal_status, checks.record_reversal_result),
        "reversal/timeout": ("reversal_timeout", REVERSAL, None, None),
    }
    for path, (source, kind, parse, apply) in routes.items():
        service.intake.register(source, _asked_again(service, source))
        blueprint.add_url_rule(f"/hooks/{path}/<token>/<int:subject_id>/<tag>", source,
                               _handler(service, checks, callback_token, guard, source, kind, parse, apply),
                               methods=["POST"])
    return blueprint


def _handler(service, checks, callback_token, guard, source, kind, parse, apply):
    def handle(token, subject_id, tag):
        callback_id, allowed = admit_callback(service, callback_token, guard, source, token)
        if callback_id is None or not allowed:   # journaled (the database is away) or refused
            return jsonify(ACCEPTED)
        if not checks.reply_is_ours(kind, subject_id, tag):
            service.mark_callback(callback_id, "rejected", "reply tag does not match: not an answer we asked for")
            log.warning("%s callback #%s refused: its reply tag is not ours", source, callback_id)
            return jsonify(ACCEPTED)
        if parse is None:
            service.mark_callback(callback_id, "inconclusive", "queue timeout: the next check settles it")
            return jsonify(ACCEPTED)
        outcome = service.intake.process(callback_id, source, request.get_data(as_text=True),
                                         lambda raw, stored_id: apply(subject_id, parse(read_json(raw)), stored_id))
        log.info("%s callback #%s for #%s: %s", source, callback_id, subject_id, outcome)
        return jsonify(ACCEPTED)
    return handle


def _asked_again(service, source: str):
    """An answer kept but not applied (journaled while the database was away, or a web worker that
    died mid-request) cannot be applied later: what it answers was in its URL only. It is marked
    and left: the next scheduled check asks M-Pesa again."""
    def process(raw: str, callback_id: int) -> str:
        service.mark_callback(callback_id, "inconclusive", f"{source}: not applied; the next check asks again")
        return "inconclusive"
    return process


def _paybill_verdict(body) -> PaybillVerdict:
    result = parse_transaction_status_result(body)
    return PaybillVerdict(result_code=result.result_code, description=result.result_desc,
                          trans_id=result.receipt, status=result.transaction_status, amount=result.amount)


def _reversal_result(body) -> ReversalResult:
    """A Reversal's Result: ResultCode 0 is done; anything else (R000001, R000002, 2001 ...) failed."""
    if not isinstance(body, dict) or not isinstance(body.get("Result"), dict):
        raise MalformedCallback("reversal result: no Result object")
    result = body["Result"]
    code = result.get("ResultCode")
    if code is None or str(code) == "":
        raise MalformedCallback("reversal result: missing ResultCode")
    return ReversalResult(settled=True, succeeded=str(code) == "0", result_code=str(code)[:16],
                          description=str(result.get("ResultDesc") or "")[:200])


def _reversal_status(body) -> ReversalResult:
    """Only 'Reversed' on the original TransID settles a reversal; anything else is not known yet."""
    result = parse_transaction_status_result(body)
    reversed_ = result.result_code == "0" and (result.transaction_status or "").strip().lower() == "reversed"
    return ReversalResult(settled=reversed_, succeeded=reversed_, result_code="0" if reversed_ else result.result_code,
                          description="status query: the payment is reversed" if reversed_ else result.result_desc)
