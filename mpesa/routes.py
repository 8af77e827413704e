"""Daraja's callbacks: check the path token, store the raw body, parse, apply once, acknowledge.

B2C answers (result, queue timeout, Transaction Status) are believed only at the transfer's own
tagged URL, /hooks/b2c/<what>/<token>/<transfer id>/<tag> (escrow/transfer_answers.py). The
untagged paths still answer, for transfers sent before tags: what comes there is kept, never
applied, and its transfer is asked about with a Transaction Status check."""
import hmac
import logging
from dataclasses import replace

from flask import Blueprint, abort, has_request_context, jsonify, request

from escrow.intake import CallbackNotKept, replayed_attempt_id
from escrow.payments import PaymentResult
from escrow.payouts import RESULT, STATUS, PayoutResult
from escrow.transfer_answers import TransferAnswers
from mpesa.errors import MalformedCallback
from mpesa.results import (parse_b2c_result, parse_b2c_timeout, parse_stk_callback,
                           parse_transaction_status_result, read_json)

log = logging.getLogger(__name__)
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def make_mpesa_blueprint(service, *, callback_token: str, guard=None, confirm=None) -> Blueprint:
    """`guard` (mpesa.security.CallbackGuard) refuses callbacks from addresses off the allowlist;
    `confirm` (mpesa.security.ConfirmPolicy) holds STK successes for an STK query first.
    Each source's processor is also registered with the service's intake, which replays journaled
    callbacks and retries stored ones through it (escrow/intake.py)."""
    blueprint = Blueprint("mpesa", __name__)
    answers = TransferAnswers(service.db, service.core)
    routes = {
        "/hooks/stk/<token>": ("stk", stk_payment_result, service.record_payment_result),
        # untagged B2C answers: unverified, so never applied (their transfer is asked about instead)
        "/hooks/b2c/result/<token>": ("b2c_result", b2c_payout_result, answers.hold_unverified),
        "/hooks/b2c/timeout/<token>": ("b2c_timeout", b2c_timeout_result, service.record_payout_timeout),
        "/hooks/b2c/status/<token>": ("b2c_status", status_query_result, answers.hold_unverified),
    }
    for path, (source, parse, apply) in routes.items():
        service.intake.register(source, _processor(service, source, parse, apply, confirm))
        blueprint.add_url_rule(path, source, _handler(service, callback_token, source, guard), methods=["POST"])
    tagged = {"result": ("b2c_result", b2c_payout_result, (RESULT,)),
              "status": ("b2c_status", status_query_result, (STATUS,)),
              "timeout": ("b2c_timeout", None, (RESULT, STATUS))}
    for what, (source, parse, kinds) in tagged.items():
        blueprint.add_url_rule(f"/hooks/b2c/{what}/<token>/<int(max=2147483647):payout_id>/<tag>", f"{source}_tagged",
                               _tagged_handler(service, answers, callback_token, guard, source, parse, kinds),
                               methods=["POST"])
    # The STK CallBackURL names our attempt (mpesa.gateway.stk_callback_url, issue 11 #1); the bare
    # path above still serves pushes sent before it did.
    blueprint.add_url_rule("/hooks/stk/<token>/a<int(max=2147483647):attempt_id>", "stk_attempt",
                           _handler(service, callback_token, "stk", guard), methods=["POST"])
    return blueprint


def admit_callback(service, callback_token: str, guard, source: str, token: str) -> tuple[int | None, bool]:
    """Every Daraja callback's first steps, in order: the path token (404 if wrong), the source
    address, then the raw body kept in one INSERT ('rejected' if the address is not allowed).
    Returns (callback_id, allowed); the id is None when the body went to the journal because the
    database could not take it, and the request is answered 503 only if the journal failed too."""
    if not hmac.compare_digest(token.encode(), callback_token.encode()):
        abort(404)
    address = guard.client_address(request.remote_addr, request.headers.get("X-Forwarded-For")) \
        if guard else request.remote_addr
    allowed = guard is None or guard.allows(address)
    try:
        callback_id = service.intake.keep(
            source=source, body=request.get_data(), remote_addr=address, status="received" if allowed else "rejected",
            note=None if allowed else f"source address {address} is not allowed",
            attempt_id=(request.view_args or {}).get("attempt_id"))
    except CallbackNotKept:
        abort(503)
    if not allowed:
        log.warning("%s callback #%s from %s refused: not on MPESA_ALLOWED_IPS", source, callback_id, address)
    return callback_id, allowed


def _handler(service, callback_token, source, guard=None):
    def handle(token, attempt_id=None):
        callback_id, allowed = admit_callback(service, callback_token, guard, source, token)
        if callback_id is not None and allowed and service.intake.defers(source):
            log.info("%s callback #%s kept; the worker applies it", source, callback_id)   # CALLBACK_APPLY=worker
        elif callback_id is not None and allowed:
            outcome = service.intake.process(callback_id, source, request.get_data(as_text=True))
            log.info("%s callback #%s: %s", source, callback_id, outcome)
        return jsonify(ACCEPTED)
    return handle


def _tagged_handler(service, answers: TransferAnswers, callback_token, guard, source, parse, kinds):
    """A B2C answer at a transfer's own URL: kept first, then its tag checked, then applied to the
    transfer the URL names (a result or status answer) or treated as that transfer's queue timeout."""
    def handle(token, payout_id, tag):
        callback_id, allowed = admit_callback(service, callback_token, guard, source, token)
        if callback_id is None or not allowed:   # journaled (replayed as unverified) or refused
            return jsonify(ACCEPTED)
        kind = answers.reply_is_ours(kinds, payout_id, tag)
        if kind is None:
            answers.reject(callback_id, f"reply tag does not match transfer #{payout_id}: not an answer we asked for")
            log.warning("%s callback #%s refused: its reply tag is not ours", source, callback_id)
            return jsonify(ACCEPTED)
        if parse is None:
            outcome = answers.record_timeout(kind, payout_id, callback_id)
        else:
            outcome = service.intake.process(callback_id, source, request.get_data(as_text=True),
                                             _tagged_processor(service, answers, payout_id, parse))
        log.info("%s callback #%s for transfer #%s: %s", source, callback_id, payout_id, outcome)
        return jsonify(ACCEPTED)
    return handle


def _tagged_processor(service, answers: TransferAnswers, payout_id: int, parse):
    def process(raw: str, callback_id: int) -> str:
        try:
            result = parse(read_json(raw))
        except MalformedCallback as error:
            service.mark_callback(callback_id, "malformed", str(error))
            return "malformed"
        return answers.record_answer(payout_id, result, callback_id)
    return process


def _processor(service, source, parse, apply, confirm=None):
    """(raw body, stored callback id) -> outcome: parse (bounded), hold or apply, mark the row."""
    def process(raw: str, callback_id: int) -> str:
        try:
            result = parse(read_json(raw))
        except MalformedCallback as error:
            service.mark_callback(callback_id, "malformed", str(error))
            return "malformed"
        if result is None:
            service.mark_callback(callback_id, "inconclusive")
            return "inconclusive"
        if source == "stk" and _path_attempt_id() is not None:
            result = replace(result, attempt_id=_path_attempt_id())
        if confirm is not None and source == "stk" and result.succeeded and confirm.requires(result.amount):
            service.link_payment_attempt(result)   # a held success is then found (and queried) by its checkout id
            service.hold_stk_success(callback_id)   # the worker asks at once (escrow/confirmation.py)
            return "unconfirmed"
        return apply(result, callback_id)
    return process


def _path_attempt_id() -> int | None:
    """Our attempt id from an STK callback's own URL, while handling that request (or replaying
    it from the callback journal, which kept it)."""
    if has_request_context():
        return (request.view_args or {}).get("attempt_id")
    return replayed_attempt_id()


def stk_payment_result(body) -> PaymentResult:
    callback = parse_stk_callback(body)
    succeeded = callback.result_code == "0"
    if succeeded and (callback.receipt is None or callback.amount is None):
        raise MalformedCallback("success without receipt or amount")
    return PaymentResult(checkout_id=callback.checkout_request_id, succeeded=succeeded,
                         result_code=callback.result_code, description=callback.result_desc or "",
                         amount=callback.amount, receipt=callback.receipt)


def b2c_payout_result(body) -> PayoutResult:
    result = parse_b2c_result(body)
    return PayoutResult(originator_id=result.originator_conversation_id, conversation_id=result.conversation_id,
                        succeeded=result.result_code == "0", result_code=result.result_code,
                        description=result.result_desc or "", receipt=result.receipt or result.transaction_id,
                        amount=result.amount)


def b2c_timeout_result(body) -> PayoutResult:
    """Not an outcome: the service marks the transfer unknown and asks for its status later."""
    result = parse_b2c_timeout(body)
    return PayoutResult(originator_id=result.originator_conversation_id, conversation_id=result.conversation_id,
                        succeeded=False, result_code="timeout", description="queue timeout: outcome unknown")


# TransactionStatus values that mean M-Pesa did not pay (or took the money back): a definite failure.
# The query does not say why, so the word itself is the result code ("Failed", ...): not in the
# default B2C_RETRY_CODES, so the reconciler flags it for review; list it there to retry instead.
FAILED_STATUSES = {"failed": "Failed", "cancelled": "Cancelled", "reversed": "Reversed"}


def status_query_result(body) -> PayoutResult | None:
    """Only a definite answer settles a transfer; anything else (pending, not found, an error)
    leaves it unknown for the next check."""
    result = parse_transaction_status_result(body)
    status = (result.transaction_status or "").strip().lower()
    if result.result_code != "0":
        return None
    if status == "completed":
        return PayoutResult(originator_id=result.queried_originator_conversation_id, conversation_id=None,
                            succeeded=True, result_code="0", description="confirmed by status query",
                            receipt=result.receipt, amount=result.amount)
    if status in FAILED_STATUSES:
        word = FAILED_STATUSES[status]
        return PayoutResult(originator_id=result.queried_originator_conversation_id, conversation_id=None,
                            succeeded=False, result_code=word,
                            description=f"status query: M-Pesa reports the transfer {word}")
    return None


# What reconciliation re-parses and re-applies to orphans: source -> (parser, which use case).
# A B2C result or status answer kept as an orphan came to an untagged URL: unverified, so a late
# match only makes its transfer unknown and asked about ("payout_timeout"), never settles it.
CALLBACK_PARSERS = {
    "stk": (stk_payment_result, "payment"),
    "b2c_result": (b2c_payout_result, "payout_timeout"),
    "b2c_timeout": (b2c_timeout_result, "payout_timeout"),
    "b2c_status": (status_query_result, "payout_timeout"),
}
