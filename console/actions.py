"""What operators do: reveal a party's number (with a reason), note and resolve disputes (preview, then
confirm with the second factor), resolve findings, and (admins) disable or unlock operators. Each one is
audited in the same transaction as its effect."""
from flask import g, redirect, request, url_for
from sqlalchemy import select

from console import approvals
from console.errors import BadRequest
from console.pages import order_page
from console.roles import MANAGE_OPERATORS, NOTE_DISPUTE, RESOLVE_DISPUTE, RESOLVE_FINDING, REVEAL
from console.web import Console, actor, client_addr, eat, page, signed_in
from escrow import audit
from escrow.errors import EscrowError
from escrow.findings import resolve_finding
from escrow.lifecycle import split_shares
from escrow.models import Order, OrderEvent
from escrow.orders import order_by_reference
from escrow.states import State

OUTCOMES = ("release", "refund", "split")


def register(bp, console: Console) -> None:
    @bp.route("/orders/<reference>/reveal", methods=["POST"])
    @signed_in(REVEAL)
    def reveal(reference):
        reason = _reason(request.form.get("reason"), "say why you need the numbers")
        with console.db.transaction() as session:
            order = _order(session, reference)
            shown = {"buyer": console.core.vault.unseal(order.buyer_sealed),
                     "seller": console.core.vault.unseal(order.seller_sealed)}
            audit.record(session, actor(), "revealed_parties", order_reference=order.reference, reason=reason,
                         target="buyer,seller")
        return order_page(console, reference, revealed=shown)

    @bp.route("/disputes/<reference>/note", methods=["POST"])
    @signed_in(NOTE_DISPUTE)
    def note(reference):
        text = _reason(request.form.get("note"), "write the note")
        with console.db.transaction() as session:
            order = _order(session, reference)
            audit.record(session, actor(), "dispute_noted", order_reference=order.reference, reason=text)
        return redirect(url_for("console.order", reference=reference, done="noted"))

    @bp.route("/disputes/<reference>/preview", methods=["POST"])
    @signed_in(RESOLVE_DISPUTE)
    def preview(reference):
        decision = _decision(request.form)
        with console.db.transaction() as session:
            order = _order(session, reference)
            _still_disputed(session, order)
            shares = shares_of(order, decision["outcome"], decision["to_seller"])
        return order_page(console, reference, preview={**decision, **shares})

    @bp.route("/disputes/<reference>/resolve", methods=["POST"])
    @signed_in(RESOLVE_DISPUTE)
    def resolve(reference):
        decision = _decision(request.form)
        with console.db.transaction() as session:
            order = _order(session, reference)
            _still_disputed(session, order)
            shares = shares_of(order, decision["outcome"], decision["to_seller"])
        console.accounts.step_up(g.operator, request.form.get("code", ""), client_addr())
        if approvals.needs_approval(console, order):
            approvals.propose(console, order, decision, shares)
            return redirect(url_for("console.order", reference=reference, done="proposed"))
        who = actor()

        def record(session, resolved):
            audit.record(session, who, f"dispute_{decision['outcome']}", order_reference=resolved.reference,
                         reason=decision["note"], before={"state": State.DISPUTED.value},
                         after={"state": resolved.state, **shares})
        try:
            console.service.resolve_dispute(reference, outcome=decision["outcome"], to_seller=decision["to_seller"],
                                            note=decision["note"], actor=who.name, audit=record)
        except EscrowError as refused:
            with console.db.transaction() as session:
                _still_disputed(session, _order(session, reference))
            raise BadRequest(f"nothing was done: {refused}") from None
        return redirect(url_for("console.order", reference=reference, done="resolved"))

    @bp.route("/findings/<int:finding_id>/resolve", methods=["POST"])
    @signed_in(RESOLVE_FINDING)
    def finding_resolved(finding_id):
        text = _reason(request.form.get("note"), "write what was found and done")
        with console.db.transaction() as session:
            try:
                finding = resolve_finding(session, finding_id, text)
            except EscrowError as refused:
                raise BadRequest(str(refused)) from None
            audit.record(session, actor(), "finding_resolved", order_reference=finding.get("order"),
                         target=f"finding #{finding_id}", reason=text, before={"status": "open"},
                         after={"status": "resolved"})
        return redirect(url_for("console.findings"))

    @bp.route("/operators/<name>/<change>", methods=["POST"])
    @signed_in(MANAGE_OPERATORS)
    def operator_changed(name, change):
        if change == "disable":
            console.accounts.disable(name, by=actor())
        elif change == "unlock":
            console.accounts.unlock(name, by=actor())
        elif change == "reset":
            enrolment = console.accounts.reset(name, by=actor())
            return page("operators.html", operators=console.accounts.everyone(), enrolment=enrolment,
                        message=f"{enrolment.name} must enrol again at /console/enrol with the code below "
                                "(shown once; give it to them in person or by phone).")
        else:
            raise BadRequest("operators can be disabled, unlocked or reset here")
        return redirect(url_for("console.operators"))


def shares_of(order: Order, outcome: str, to_seller: int | None) -> dict:
    """Who receives what, in KES, as resolve_dispute will pay it: a split asks the core's own rule
    (escrow.lifecycle.split_shares), so the preview and the money can never disagree. `share` is the
    seller's share of the price as typed (before the fee, when the seller pays it)."""
    if outcome == "release":
        return {"share": None, "to_seller": order.payout, "to_buyer": 0, "kept_fee": order.charge - order.payout}
    if outcome == "refund":
        return {"share": None, "to_seller": 0, "to_buyer": order.charge, "kept_fee": 0}
    try:
        seller_gets, to_buyer = split_shares(order, to_seller)
    except EscrowError as refused:
        raise BadRequest(str(refused)) from None
    return {"share": to_seller, "to_seller": seller_gets, "to_buyer": to_buyer, "kept_fee": order.fee}


def _decision(form) -> dict:
    outcome = form.get("outcome", "")
    if outcome not in OUTCOMES:
        raise BadRequest("choose release, refund or split")
    amount = (form.get("to_seller") or "").strip().replace(",", "")
    if outcome == "split" and not (amount.isascii() and amount.isdigit() and len(amount) < 10):
        raise BadRequest("a split needs the seller's share in whole shillings")
    return {"outcome": outcome, "to_seller": int(amount) if outcome == "split" else None,
            "note": _reason(form.get("note"), "write the decision's reason (it goes in the timeline)")}


def _reason(text: str | None, missing: str) -> str:
    text = " ".join((text or "").split())
    if len(text) < 3:
        raise BadRequest(missing)
    return text[:200]


def _order(session, reference: str) -> Order:
    try:
        return order_by_reference(session, reference)
    except EscrowError:
        raise BadRequest(f"no order {reference[:12]}") from None


def _still_disputed(session, order: Order) -> None:
    """A second resolution, in plain words: who decided, and when."""
    if order.state == State.DISPUTED.value:
        return
    last = session.scalar(select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.event.like("dispute_%"),
                                                   OrderEvent.event != "dispute_opened").order_by(OrderEvent.id.desc()))
    if last is not None:
        raise BadRequest(f"this dispute was already resolved by {last.actor} at {eat(last.at)} "
                         f"({last.event.replace('_', ' ')}); the order is now {order.state.replace('_', ' ')}. "
                         "Nothing was done.")
    raise BadRequest(f"order {order.reference} is not in dispute (it is {order.state.replace('_', ' ')}). "
                     "Nothing was done.")
