"""Admins erase a person's number from the console (issue 15, Personal data): the same request as
`flask data erase` and the ERASE/FUTA text (escrow/privacy/erasure.py), recorded with the admin's
name and reason after a fresh authenticator code; the worker carries it out within a minute (it holds
the Redis port), or when the number's last order in progress is final. No number is shown back."""
from flask import g, request
from sqlalchemy import select

from console.errors import BadRequest
from console.roles import MANAGE_OPERATORS
from console.web import Console, actor, client_addr, page, signed_in
from escrow.errors import InvalidPhoneNumber
from escrow.models import ErasureRequest
from escrow.phone import mask, normalize_msisdn
from escrow.privacy.erasure import open_orders, request_erasure


def register(bp, console: Console) -> None:

    @bp.route("/erase")
    @signed_in(MANAGE_OPERATORS)
    def erase_page():
        return page("erase.html", requests=_recent(console))

    @bp.route("/erase", methods=["POST"])
    @signed_in(MANAGE_OPERATORS)
    def erase_number():
        reason = (request.form.get("reason") or "").strip()
        if not reason:
            raise BadRequest("write why: who asked, when and how")
        try:
            number = normalize_msisdn(request.form.get("number") or "")
        except InvalidPhoneNumber:
            raise BadRequest("that is not a Kenyan mobile number") from None
        console.accounts.step_up(g.operator, request.form.get("code", ""), client_addr())
        with console.db.transaction() as session:
            request_id = request_erasure(session, console.core, number, source="console", actor=actor(),
                                         reason=reason[:300])
            waiting = open_orders(session, console.core.vault.phone_key(number))
        return page("erase.html", requests=_recent(console),
                    done={"id": request_id, "masked": mask(number), "waiting": waiting})


def _recent(console: Console, limit: int = 20) -> list:
    with console.db.transaction() as session:
        rows = list(session.scalars(select(ErasureRequest).where(ErasureRequest.status.in_(("pending", "done")))
                                    .order_by(ErasureRequest.id.desc()).limit(limit)))   # not codes asked by SMS
        session.expunge_all()
    return rows
