"""Maker-checker holds against an admin who resets the checker's account.

A large dispute decision moves only when a second agent approves it. An admin may reset another
operator's enrolment from the console, and the page shows the admin the one-time code: the admin can
enrol as that operator (a new password, a new TOTP key of their own) and approve their own proposal.
The second pair of eyes was the maker's. A checker whose sign-in the maker set up (their last reset,
or their account, was the maker's doing) cannot approve the maker's proposal: another admin resets
them first."""
import re

from sqlalchemy import select

from escrow.models import Order
from tests.console.conftest import PASSWORD, code_for, operators, post_form  # noqa: F401 -- fixtures reused here
from tests.e2e.conftest import live, simulator  # noqa: F401 -- fixtures reused here
from tests.e2e.test_operator_commands import disputed_order


def take_over(operators, admin_client, name: str) -> None:  # noqa: F811
    """The admin resets `name` from the console and enrols as them with the code the page shows."""
    page = post_form(admin_client, f"/console/operators/{name}/reset", {}, from_page="/console/operators")
    token = re.search(r'id="enrolment-code">([^<]+)<', page.get_data(as_text=True)).group(1)
    _, uri = operators.accounts.pending_enrolment(token)
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    operators.secrets[name] = secret
    operators.accounts.enrol(token, PASSWORD, PASSWORD, code_for(secret, -1), "test")


def test_an_admin_who_reset_the_checker_cannot_approve_their_own_proposal_as_them(live, simulator, operators):  # noqa: F811
    reference = disputed_order(live, simulator, price="60000")
    amina = operators.client(operators.enrolled("amina", "admin"))
    operators.enrolled("bob", "agent")
    order_url = f"/console/orders/{reference}"
    proposed = post_form(amina, f"/console/disputes/{reference}/resolve",
                         {"outcome": "refund", "note": "never delivered", "to_seller": "",
                          "code": operators.step_up_code("amina")}, from_page=order_url)
    assert proposed.status_code == 302 and "done=proposed" in proposed.headers["Location"]

    take_over(operators, amina, "bob")
    as_bob = operators.client("bob")
    approval_id = as_bob.get(order_url).get_data(as_text=True).split("/console/approvals/")[1].split("/")[0]
    approved = post_form(as_bob, f"/console/approvals/{approval_id}/approve",
                         {"code": operators.step_up_code("bob")}, from_page=order_url)
    assert approved.status_code == 403 and "set up by" in approved.get_data(as_text=True)
    with live.zemi.db.transaction() as session:
        assert session.scalar(select(Order.state).where(Order.reference == reference)) == "disputed"


def test_a_checker_reset_by_another_admin_still_approves(live, simulator, operators):  # noqa: F811
    reference = disputed_order(live, simulator, price="60000")
    amina = operators.client(operators.enrolled("amina", "admin"))
    other = operators.client(operators.enrolled("carol", "admin"))
    operators.enrolled("bob", "agent")
    order_url = f"/console/orders/{reference}"
    post_form(amina, f"/console/disputes/{reference}/resolve",
              {"outcome": "refund", "note": "never delivered", "to_seller": "",
               "code": operators.step_up_code("amina")}, from_page=order_url)
    take_over(operators, other, "bob")            # bob lost his phone; another admin set him up again
    as_bob = operators.client("bob")
    approval_id = as_bob.get(order_url).get_data(as_text=True).split("/console/approvals/")[1].split("/")[0]
    approved = post_form(as_bob, f"/console/approvals/{approval_id}/approve",
                         {"code": operators.step_up_code("bob")}, from_page=order_url)
    assert approved.status_code == 302, approved.get_data(as_text=True)
