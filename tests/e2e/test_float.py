"""Float and balances end to end (issue 12): Account Balance through the real client and the
simulator over HTTP, its asynchronous answer through the app's result URL, the float finding
before a payout fails, and a payout refused for float waiting (never given up, whatever
B2C_MAX_ATTEMPTS says) until a balance answer shows the float topped up."""
import json

import requests

from escrow.models import AccountBalance, InboundCallback, Order, Payout
from tests.e2e.test_statement import (live, one, pushed, rows, settle, sim, start_live,  # noqa: F401  (fixtures)
                                      start_statement_live)

B2C_SHORTCODE = "600000"
SELLER = "0722000111"


def set_float(sim, amount):
    answer = requests.post(f"{sim.base_url}/_sim/float", json={"shortcode": B2C_SHORTCODE, "amount": amount},
                           timeout=10)
    assert answer.status_code == 200 and answer.json()["balance"] == amount


def float_findings(live):
    return [json.loads(row.body) for row in rows(live, InboundCallback, InboundCallback.source == "finding")
            if json.loads(row.body)["kind"] == "float-low"]


def kinds(live):
    return [json.loads(row.body)["kind"] for row in rows(live, InboundCallback, InboundCallback.source == "finding")]


def released(live, sim, buyer):
    order = pushed(live, sim, buyer)
    settle(live, sim)
    service = live.zemi.service
    match = service.check_delivery_code(caller=SELLER, code=live.delivery_code(buyer))
    assert service.confirm_delivery(caller=SELLER, reference=order.reference, token=match.token).state == "released"
    return one(live, Order, Order.id == order.id)


def test_the_float_finding_fires_before_a_payout_fails_and_the_payout_goes_after_a_top_up(start_live, sim):
    live = start_live(B2C_FLOAT_MIN="100", B2C_RETRY_AFTER_SECONDS="0", B2C_MAX_ATTEMPTS="1")
    set_float(sim, 500)
    order = released(live, sim, "0711000201")          # its payout is due, not sent yet

    result = live.cli("mpesa", "balance")
    assert result.exit_code == 0 and f"asked for the balance of 174379, {B2C_SHORTCODE}" in result.output
    assert sim.drain(10)                                # the answers reach our result URL
    [low] = float_findings(live)
    assert (low["available"], low["owed"], low["margin"]) == (500, order.payout, 100)
    assert [p.status for p in rows(live, Payout)] == ["queued"]   # the finding came first
    shown = live.cli("mpesa", "balance", "--no-query").output
    assert "Utility Account: KES 500.00" in shown and "SHORT: top it up" in shown
    assert "SHORT: top it up" in live.cli("ledger", "check").output

    live.run_worker()                                   # M-Pesa refuses: insufficient funds
    assert sim.drain(10)
    assert [(p.status, p.result_code) for p in rows(live, Payout)] == [("failed", "1")]

    settle(live, sim)                                   # no top-up seen yet: it waits, never given up
    assert len(rows(live, Payout)) == 1
    assert "payout-waiting-float" in kinds(live) and "payout-failed" not in kinds(live)

    set_float(sim, 1_000_000)                           # topped up, and a balance answer shows it
    assert live.cli("mpesa", "balance").exit_code == 0 and sim.drain(10)
    settle(live, sim, rounds=3)
    assert [p.status for p in rows(live, Payout)] == ["failed", "succeeded"]
    assert one(live, Order, Order.id == order.id).state == "paid_out"
    assert live.cli("ledger", "check").exit_code == 0


def test_a_balance_answer_is_stored_per_account_and_a_covered_float_raises_nothing(live, sim):
    assert live.cli("mpesa", "balance").exit_code == 0
    assert sim.drain(10)
    balances = {(row.shortcode, row.account): row.available_cents for row in rows(live, AccountBalance)}
    assert balances[(B2C_SHORTCODE, "Utility Account")] == 10_000_000 * 100
    assert (B2C_SHORTCODE, "Charges Paid Account") in balances and ("174379", "Utility Account") in balances
    assert float_findings(live) == []
    assert "covers it" in live.cli("ledger", "check").output


def test_a_forged_or_garbled_balance_result_is_kept_for_review_and_changes_nothing(live, sim):
    from tests.e2e.conftest import CALLBACK_TOKEN
    for body in ({"Result": "junk"}, {"Result": {"ResultCode": "0", "ResultParameters": {"ResultParameter": [
            {"Key": "AccountBalance", "Value": "Utility Account|KES|1e9|x"}]}}}):
        answer = requests.post(f"{live.base_url}/hooks/balance/result/{CALLBACK_TOKEN}/s{B2C_SHORTCODE}", json=body,
                               timeout=10)
        assert answer.status_code == 200
    assert requests.post(f"{live.base_url}/hooks/balance/result/wrong/s{B2C_SHORTCODE}", json={},
                         timeout=10).status_code == 404
    assert [row.status for row in rows(live, InboundCallback)] == ["malformed", "malformed"]
    assert rows(live, AccountBalance) == []
