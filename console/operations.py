"""Alerts (what the people on call were texted, and what is wrong now), delivery-code lockouts with
unlock (agents), and cancelling an order (admins, maker-checker above CONSOLE_APPROVAL_ABOVE when money
goes back). Every action is audited in the same transaction as its effect."""
import json

from flask import g, redirect, request, url_for

from console.errors import BadRequest
from console.roles import CANCEL_ORDER, UNLOCK_CODES
from console.web import Console, actor, client_addr, page, signed_in
from escrow import alerts, audit, lockouts
from escrow.db import insert_new
from escrow.errors import EscrowError
from escrow.findings import list_findings
from escrow.models import Approval, Order
from escrow.operator_cancel import cancel_by_operator, moves_money
from escrow.phone import mask

CANCEL = "cancel_order"


def register(bp, console: Console) -> None:
    @bp.route("/alerts")
    @signed_in()
    def alerts_page():
        with console.db.transaction() as session:
            sent = alerts.recent(session)
            open_now = [f for f in list_findings(session) if alerts.is_money_critical(f.get("kind"))
                        or f.get("kind") == alerts.FLOAT_LOW]
        return page("alerts.html", alerts=sent, open_now=open_now,
                    heartbeat=console.heartbeat() if console.heartbeat else None, on_call=console.on_call)

    @bp.route("/lockouts")
    @signed_in()
    def lockouts_page():
        with console.db.transaction() as session:
            callers = [(c, mask(console.core.vault.unseal(c.sealed_number)) if c.sealed_number else "?")
                       for c in lockouts.locked_callers(session)]
            orders = lockouts.locked_orders(session)
        return page("lockouts.html", callers=callers, orders=orders)

    @bp.route("/lockouts/callers/<caller_key>/unlock", methods=["POST"])
    @signed_in(UNLOCK_CODES)
    def unlock_caller(caller_key):
        reason = _reason(request.form.get("reason"), "say why (who called, what you checked)")
        with console.db.transaction() as session:
            try:
                lockouts.unlock_caller(session, caller_key[:64], g.operator.name)
            except EscrowError as refused:
                raise BadRequest(str(refused)) from None
            audit.record(session, actor(), "caller_unlocked", target=f"caller {caller_key[:12]}", reason=reason,
                         before={"locked": True}, after={"locked": False})
        return redirect(url_for("console.lockouts_page"))

    @bp.route("/lockouts/orders/<reference>/unlock", methods=["POST"])
    @signed_in(UNLOCK_CODES)
    def unlock_order(reference):
        reason = _reason(request.form.get("reason"), "say why (who called, what you checked)")
        with console.db.transaction() as session:
            try:
                order = lockouts.unlock_order(session, reference, g.operator.name)
            except EscrowError as refused:
                raise BadRequest(str(refused)) from None
            audit.record(session, actor(), "code_unlocked", order_reference=order.reference, reason=reason,
                         before={"code_locked": True}, after={"code_locked": False})
        return redirect(url_for("console.lockouts_page"))

    @bp.route("/orders/<reference>/cancel", methods=["POST"])
    @signed_in(CANCEL_ORDER)
    def cancel(reference):
        reason = _reason(request.form.get("reason"), "say why the order is cancelled (it goes in the timeline)")
        with console.db.transaction() as session:
            order = session.query(Order).filter_by(reference=reference[:12]).one_or_none()
            if order is None:
                raise BadRequest(f"no order {reference[:12]}")
            large = moves_money(order) and order.charge > console.settings.approval_above
        console.accounts.step_up(g.operator, request.form.get("code", ""), client_addr())
        if large:
            with console.db.transaction() as session:
                made = insert_new(session, Approval, order_reference=order.reference, action=CANCEL,
                                  maker=g.operator.name, detail=json.dumps({"outcome": "cancel", "note": reason,
                                                                            "to_buyer": order.charge}),
                                  status="pending")
                if made is None:
                    raise BadRequest("a decision on this order already waits for approval: approve or reject it first")
                audit.record(session, actor(), "cancel_proposed", order_reference=order.reference, reason=reason,
                             target=f"approval #{made}", after={"to_buyer": order.charge})
            return redirect(url_for("console.order", reference=order.reference, done="cancel_proposed"))
        cancelled(console, order.reference, reason, actor())
        return redirect(url_for("console.order", reference=order.reference, done="cancelled"))


def approve_cancel(console: Console, approval: Approval, detail: dict):
    """A second admin carries out a proposed cancellation (with their own code)."""
    from sqlalchemy import update

    from console.roles import require
    from escrow.db import db_now
    require(g.operator.role, CANCEL_ORDER)
    console.accounts.step_up(g.operator, request.form.get("code", ""), client_addr())
    checker = actor()
    try:
        with console.db.transaction() as session:
            won = session.execute(update(Approval).where(Approval.id == approval.id, Approval.status == "pending")
                                  .values(status="approved", checker=checker.name, decided_at=db_now(session))).rowcount
            if not won:
                raise BadRequest("this proposal was decided meanwhile; nothing was done")
            reason = f"{detail['note']} (proposed by {approval.maker})"[:200]
            order = cancel_by_operator(session, console.core, approval.order_reference, actor=checker.name,
                                       reason=reason)
            audit.record(session, checker, "order_cancelled", order_reference=order.reference, reason=reason,
                         target=f"approval #{approval.id}", before={"proposed_by": approval.maker},
                         after={"state": order.state, "approved_by": checker.name, "to_buyer": detail["to_buyer"]})
    except EscrowError as refused:
        raise BadRequest(f"nothing was done: {refused}") from None
    return redirect(url_for("console.order", reference=approval.order_reference, done="cancelled"))


def cancelled(console: Console, reference: str, reason: str, who, extra: dict | None = None) -> str:
    """Cancel through the core's use case, audited in its transaction; refusals in plain words."""
    try:
        with console.db.transaction() as session:
            before = session.query(Order.state).filter_by(reference=reference).scalar()
            order = cancel_by_operator(session, console.core, reference, actor=who.name, reason=reason)
            audit.record(session, who, "order_cancelled", order_reference=order.reference, reason=reason,
                         before={"state": before, **(extra or {}).get("before", {})},
                         after={"state": order.state, **(extra or {}).get("after", {})})
            return order.state
    except EscrowError as refused:
        raise BadRequest(str(refused)) from None


def _reason(text: str | None, missing: str) -> str:
    text = " ".join((text or "").split())
    if len(text) < 3:
        raise BadRequest(missing)
    return text[:200]
