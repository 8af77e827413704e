"""Every finding kind the code can record, and the `unverified` callback status, are explained on the
console with context (what it means, what to do), so an operator never meets a bare code."""
import pathlib
import re

import requests

from console.finding_kinds import CALLBACK_STATUSES, KINDS
from escrow.findings import record_finding
from escrow.reports import CALLBACKS_FOR_REVIEW
from escrow.transfer_answers import UNVERIFIED
from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.test_operator_commands import disputed_order
from tests.e2e.test_payout_results import b2c_success

ROOT = pathlib.Path(__file__).resolve().parents[2]


def recorded_kinds() -> set[str]:
    """The first part of every key passed to record_finding in the service's code (or a constant it names)."""
    kinds = set()
    for path in ROOT.glob("*/**/*.py"):
        if path.parts[len(ROOT.parts)] not in ("escrow", "mpesa", "sms", "ussd", "api", "console"):
            continue
        text = path.read_text()
        kinds |= set(re.findall(r'record_finding\(\s*session,\s*f?"([a-z][a-z0-9-]*):', text))
        kinds |= set(re.findall(r'^[A-Z_]+ = "([a-z]+(?:-[a-z]+)+)"', text, re.M)) & set(KINDS)
        kinds |= set(re.findall(r'return f"([a-z][a-z0-9-]*):\{', text))
    return kinds


def test_every_finding_kind_in_the_code_is_explained():
    kinds = recorded_kinds()
    assert {"payout-answer-mismatch", "double-payment", "statement-missing", "float-low"} <= kinds
    assert kinds - set(KINDS) == set()


def test_every_callback_status_for_review_and_unverified_is_explained():
    assert set(CALLBACKS_FOR_REVIEW) | {UNVERIFIED} <= set(CALLBACK_STATUSES)


def test_findings_and_unverified_answers_are_shown_with_their_meaning(live, simulator, operators):
    from sqlalchemy import select

    from escrow.models import Order, Payout
    reference = disputed_order(live, simulator)
    assert live.cli("disputes", "resolve", reference, "--release", "--note", "fine").exit_code == 0
    simulator.set_scenario("254722000111", "b2c_no_result", times=1)     # M-Pesa takes it and never answers
    live.run_worker()                                                     # the payout goes out
    with live.zemi.db.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == reference))
        payout = session.scalar(select(Payout).where(Payout.order_id == order_id))
        record_finding(session, "payout-answer-mismatch:test", order_id=order_id, summary="ids name transfer 9",
                       payout_id=payout.id, conversation_id="AG_1")
    answer = b2c_success(payout.originator_conversation_id, payout.amount, "QWE123RTY0")
    requests.post(f"{live.base_url}/hooks/b2c/result/{CALLBACK_TOKEN}", json=answer, timeout=10)   # untagged
    viewer = operators.client(operators.enrolled("vera", "viewer"))
    findings = viewer.get("/console/findings").get_data(as_text=True)
    assert "payout-answer-mismatch" in findings and "named another transfer" in findings
    assert f"payout_id={payout.id}" in findings and "Check both transfers on the portal" in findings
    order_page = viewer.get(f"/console/orders/{reference}").get_data(as_text=True)
    assert "payout-answer-mismatch: An answer at one transfer" in order_page
    listed = viewer.get("/console/callbacks").get_data(as_text=True).split('id="callbacks"')[1]
    assert ">unverified</td>" in listed and "untagged URL" in listed and "QWE123RTY0" in listed
