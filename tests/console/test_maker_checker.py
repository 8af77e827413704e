"""A dispute holding more than CONSOLE_APPROVAL_ABOVE (default KES 50,000) moves only when a second agent
approves the first one's decision, each with their own code."""
from sqlalchemy import func, select

from escrow.models import AuditEntry
from tests.console.conftest import post_form
from tests.e2e.test_journey import settle
from tests.e2e.test_operator_commands import disputed_order


def test_a_large_resolution_waits_for_a_second_agent(live, simulator, operators):
    reference = disputed_order(live, simulator, price="60000")
    alice = operators.client(operators.enrolled("alice", "agent"))
    bob = operators.client(operators.enrolled("bob", "agent"))
    order_url = f"/console/orders/{reference}"
    decision = {"outcome": "refund", "note": "never delivered", "to_seller": ""}
    proposed = post_form(alice, f"/console/disputes/{reference}/resolve",
                         {**decision, "code": operators.step_up_code("alice")})
    assert proposed.status_code == 302 and "done=proposed" in proposed.headers["Location"]
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} disputed")   # nothing moved
    alice_page = alice.get(order_url).get_data(as_text=True)
    assert "Waiting for a second agent" in alice_page and 'id="approve"' not in alice_page
    approval_id = bob.get(order_url).get_data(as_text=True).split("/console/approvals/")[1].split("/")[0]
    own = post_form(alice, f"/console/approvals/{approval_id}/approve", {"code": "123456"}, from_page=order_url)
    assert own.status_code == 403 and "second agent" in own.get_data(as_text=True)
    again = post_form(alice, f"/console/disputes/{reference}/preview", decision, from_page=order_url)
    assert again.status_code == 200 and 'id="preview-button"' not in again.get_data(as_text=True)
    approved = post_form(bob, f"/console/approvals/{approval_id}/approve", {"code": operators.step_up_code("bob")},
                         from_page=order_url)
    assert approved.status_code == 302, approved.get_data(as_text=True)
    settle(live, simulator)
    shown = live.cli("orders", "show", reference).output
    assert shown.startswith(f"{reference} refunded") and "by bob (never delivered (proposed by alice))" in shown
    with live.zemi.db.transaction() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.order_reference == reference)
                                  .order_by(AuditEntry.id)).all()
        assert actions == ["resolution_proposed", "dispute_refund"]
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.operator == "bob", AuditEntry.action == "dispute_refund")) == 1
    assert live.cli("ledger", "check").exit_code == 0


def test_a_rejected_proposal_leaves_the_dispute_open_for_a_new_decision(live, simulator, operators):
    reference = disputed_order(live, simulator, price="60000")
    alice = operators.client(operators.enrolled("alice", "agent"))
    bob = operators.client(operators.enrolled("bob", "agent"))
    order_url = f"/console/orders/{reference}"
    post_form(alice, f"/console/disputes/{reference}/resolve",
              {"outcome": "release", "note": "photos fine", "code": operators.step_up_code("alice")})
    approval_id = bob.get(order_url).get_data(as_text=True).split("/console/approvals/")[1].split("/")[0]
    rejected = post_form(bob, f"/console/approvals/{approval_id}/reject", {"reason": "photos show damage"},
                         from_page=order_url)
    assert rejected.status_code == 302
    page = bob.get(order_url).get_data(as_text=True)
    assert 'id="preview-button"' in page and "Waiting for a second agent" not in page
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} disputed")
