"""Maker-checker: a dispute decision on an order holding more than CONSOLE_APPROVAL_ABOVE is proposed by
one agent (with their code) and carried out only when a second agent approves it (with theirs). The
second agent is neither the maker nor an account whose enrolment the maker issued (an admin who resets
an operator sees the one-time code, and could enrol as them)."""
import json

from flask import g, redirect, request, url_for
from sqlalchemy import select, update

from console.errors import BadRequest, Forbidden
from console.roles import RESOLVE_DISPUTE
from console.web import Console, actor, client_addr, signed_in
from escrow import audit
from escrow.db import db_now, insert_new
from escrow.errors import EscrowError
from escrow.models import Approval, AuditEntry, Order

RESOLVE = "resolve_dispute"


def needs_approval(console: Console, order: Order) -> bool:
    return order.charge > console.settings.approval_above


def propose(console: Console, order: Order, decision: dict, shares: dict) -> None:
    with console.db.transaction() as session:
        made = insert_new(session, Approval, order_reference=order.reference, action=RESOLVE, maker=g.operator.name,
                          detail=json.dumps({**decision, **shares}), status="pending")
        if made is None:
            raise BadRequest("a decision on this order already waits for approval: approve or reject that one first")
        audit.record(session, actor(), "resolution_proposed", order_reference=order.reference, reason=decision["note"],
                     target=f"approval #{made}", after={**decision, **shares})


def pending_for(console: Console, reference: str) -> tuple[Approval, dict] | None:
    with console.db.transaction() as session:
        row = session.scalar(select(Approval).where(Approval.order_reference == reference,
                                                    Approval.status == "pending"))
    return (row, json.loads(row.detail)) if row else None


def register(bp, console: Console) -> None:
    @bp.route("/approvals/<int:approval_id>/approve", methods=["POST"])
    @signed_in(RESOLVE_DISPUTE)
    def approve(approval_id):
        approval, detail = _pending(console, approval_id)
        if approval.action != RESOLVE:
            from console.operations import approve_cancel
            return approve_cancel(console, approval, detail)
        console.accounts.step_up(g.operator, request.form.get("code", ""), client_addr())
        checker = actor()

        def record(session, resolved):
            won = session.execute(update(Approval).where(Approval.id == approval.id, Approval.status == "pending")
                                  .values(status="approved", checker=checker.name, decided_at=db_now(session))).rowcount
            if not won:
                raise BadRequest("this proposal was decided meanwhile; nothing was done")
            audit.record(session, checker, f"dispute_{detail['outcome']}", order_reference=resolved.reference,
                         reason=detail["note"], target=f"approval #{approval.id}",
                         before={"state": "disputed", "proposed_by": approval.maker},
                         after={"state": resolved.state, "approved_by": checker.name,
                                **{k: detail[k] for k in ("to_seller", "to_buyer", "kept_fee")}})
        try:
            console.service.resolve_dispute(approval.order_reference, outcome=detail["outcome"],
                                            to_seller=detail.get("share", detail["to_seller"]) if detail["outcome"] == "split"
                                            else None,
                                            note=f"{detail['note']} (proposed by {approval.maker})"[:200],
                                            actor=checker.name, audit=record)
        except EscrowError as refused:
            raise BadRequest(f"nothing was done: {refused}") from None
        return redirect(url_for("console.order", reference=approval.order_reference, done="resolved"))

    @bp.route("/approvals/<int:approval_id>/reject", methods=["POST"])
    @signed_in(RESOLVE_DISPUTE)
    def reject(approval_id):
        reason = " ".join((request.form.get("reason") or "").split())[:200]
        if len(reason) < 3:
            raise BadRequest("say why the proposal is rejected")
        with console.db.transaction() as session:
            won = session.execute(update(Approval).where(Approval.id == approval_id, Approval.status == "pending")
                                  .values(status="rejected", checker=g.operator.name, decided_at=db_now(session)))
            reference = session.scalar(select(Approval.order_reference).where(Approval.id == approval_id))
            if not won.rowcount:
                raise BadRequest("there is no such proposal waiting")
            audit.record(session, actor(), "resolution_rejected", order_reference=reference, reason=reason,
                         target=f"approval #{approval_id}", before={"status": "pending"}, after={"status": "rejected"})
        return redirect(url_for("console.order", reference=reference, done="rejected"))


def _pending(console: Console, approval_id: int) -> tuple[Approval, dict]:
    with console.db.transaction() as session:
        approval = session.get(Approval, approval_id)
    if approval is None or approval.status != "pending":
        raise BadRequest("there is no such proposal waiting (it may have been decided already)")
    if approval.maker == g.operator.name:
        raise Forbidden("a decision needs a second agent: the one who proposed it cannot approve it")
    if _set_up_by(console, g.operator.name) == approval.maker:
        raise Forbidden(f"a decision needs a second agent: your sign-in was set up by {approval.maker}, who proposed "
                        f"it (another admin must reset your enrolment before you can approve their proposals)")
    return approval, json.loads(approval.detail)


def _set_up_by(console: Console, name: str) -> str | None:
    """Who issued `name`'s current enrolment (added or last reset them): that operator saw the one-time
    code and could have enrolled as `name`, so `name` is not a second pair of eyes on their proposals."""
    with console.db.transaction() as session:
        return session.scalar(select(AuditEntry.operator).where(
            AuditEntry.target == name, AuditEntry.action.in_(("operator_added", "operator_reset")))
            .order_by(AuditEntry.id.desc()).limit(1))
