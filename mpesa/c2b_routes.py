"""Daraja's C2B (paybill) callbacks: validation, then confirmation.

/hooks/c2b/validation/<token>: answer within Daraja's ~8 s with {"ResultCode": "0", "ResultDesc":
"Accepted"}, or a rejection code (C2B00012 unknown or unpayable order, C2B00013 not its exact
amount, C2B00015 not our shortcode, C2B00016 anything unreadable) with "Rejected".
/hooks/c2b/confirmation/<token>: a claim that money moved; stored raw, parsed, and acknowledged with
{"ResultCode": 0, "ResultDesc": "Success"} whatever happened. With confirmation on (`confirm`, always
against live Daraja) it is held until a Transaction Status query on its TransID agrees
(escrow/confirmation.py); in the simulator without it, applied at once, once per TransID.
A wrong token is 404 with no effect; an address off MPESA_ALLOWED_IPS is acknowledged (a
validation is rejected), kept with status 'rejected', and has no effect.
"""
import json
import logging

from flask import Blueprint, jsonify, request

from escrow.paybill import OTHER_ERROR, PaybillPayment
from mpesa.errors import MalformedCallback
from mpesa.routes import admit_callback
from mpesa.results import parse_c2b, read_json

log = logging.getLogger(__name__)
CONFIRMED = {"ResultCode": 0, "ResultDesc": "Success"}


def paybill_payment_from(body) -> PaybillPayment:
    """A C2B body (parsed JSON, or its raw text) in the core's words; MalformedCallback if unusable."""
    parsed = parse_c2b(json.loads(body) if isinstance(body, str) else body)
    return PaybillPayment(trans_id=parsed.trans_id, amount=parsed.amount, account=parsed.bill_ref_number,
                          shortcode=parsed.business_shortcode)


def make_c2b_blueprint(service, *, callback_token: str, shortcode: str, guard=None, confirm=None,
                       checks=None) -> Blueprint:
    """`confirm` (mpesa.security.ConfirmPolicy) and `checks` (escrow.confirmation.MoneyInChecks)
    hold a confirmation for a Transaction Status query before it has any effect."""
    blueprint = Blueprint("mpesa_c2b", __name__)

    def checked(source: str):
        return admit_callback(service, callback_token, guard, source, request.view_args["token"])

    def payment(callback_id: int, raw: str) -> PaybillPayment | None:
        try:
            parsed = parse_c2b(read_json(raw))
        except MalformedCallback as error:
            service.mark_callback(callback_id, "malformed", str(error))
            return None
        return PaybillPayment(trans_id=parsed.trans_id, amount=parsed.amount, account=parsed.bill_ref_number,
                              shortcode=parsed.business_shortcode)

    def confirmation_step(raw: str, callback_id: int) -> str:
        found = payment(callback_id, raw)
        if found is None:
            return "malformed"
        if confirm is not None and confirm.requires(found.amount):   # held for a Transaction Status check
            return checks.hold_paybill_payment(found, callback_id)
        return service.record_paybill_payment(found, callback_id, shortcode)

    def validation_too_late(raw: str, callback_id: int) -> str:
        service.mark_callback(callback_id, "ignored", "a validation is answered at once or not at all")
        return "ignored"

    service.intake.register("c2b_confirmation", confirmation_step)
    service.intake.register("c2b_validation", validation_too_late)

    @blueprint.post("/hooks/c2b/validation/<token>")
    def validation(token):
        callback_id, allowed = checked("c2b_validation")
        answer = {"ResultCode": OTHER_ERROR[0], "ResultDesc": OTHER_ERROR[1]}

        def validate(raw: str, callback_id: int) -> str:
            found = payment(callback_id, raw)
            if found is None:
                return "malformed"
            code, description = service.validate_paybill(found, shortcode)
            service.mark_callback(callback_id, "accepted" if code == "0" else "refused", code)
            answer.update(ResultCode=code, ResultDesc=description)
            return code

        if callback_id is not None and allowed:
            service.intake.process(callback_id, "c2b_validation", request.get_data(as_text=True), validate)
        return jsonify(answer)

    @blueprint.post("/hooks/c2b/confirmation/<token>")
    def confirmation(token):
        callback_id, allowed = checked("c2b_confirmation")
        if callback_id is not None and allowed:
            outcome = service.intake.process(callback_id, "c2b_confirmation", request.get_data(as_text=True))
            log.info("c2b confirmation #%s: %s", callback_id, outcome)
        return jsonify(CONFIRMED)

    return blueprint
