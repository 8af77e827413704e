"""Reversals are money out: sent once through the outbox, never re-sent, settled by their result or
by a Transaction Status check on the reversed TransID, and a failure is a finding, never retried.
The real app, worker and Daraja simulator over HTTP (simulator mode: confirmations apply at once)."""
import time

from escrow.models import PaymentReceived, Payout, Reversal
from tests.e2e.test_forged_money_in import CONFIRM_PATH, funded_order, paybill_body, status_requests
from tests.e2e.mpesa_live import (  # noqa: F401 (fixtures)
    count, findings, ledger_ok, post, rows, settle, sim, start_live)


def reversal_requests(sim) -> list[dict]:
    return [r["json"] for r in sim.requests_received("/mpesa/reversal/v1/request")]


def settle_reversals(live, sim, passes: int = 60) -> None:
    """Run the worker until no reversal is unsettled (its checks come B2C_QUERY_AFTER_SECONDS apart)."""
    for _ in range(passes):
        settle(live, sim, rounds=1)
        if not rows(live, Reversal, Reversal.status.in_(("queued", "sending", "sent", "unknown"))):
            return
        time.sleep(0.2)


def paid_twice(live, sim, buyer: str):
    """An order funded by STK, then paid again at the paybill (its confirmation posted as Daraja would)."""
    order = funded_order(live, sim, buyer)
    trans_id = sim.pay_bill(buyer, order.charge, order.reference, "174379")   # no URLs registered: we post it
    assert post(live, CONFIRM_PATH, paybill_body(order, trans_id)).status_code == 200
    [extra] = rows(live, PaymentReceived, PaymentReceived.receipt == trans_id)
    assert extra.outcome == "refunding"
    return order, trans_id


def test_a_reversal_whose_result_is_lost_is_settled_by_a_status_check_and_never_resent(start_live, sim):
    live = start_live(B2C_QUERY_AFTER_SECONDS="1")
    sim.simulator.money_in.drop_results(1)
    order, trans_id = paid_twice(live, sim, "0711000401")
    settle_reversals(live, sim)
    assert [r["TransactionID"] for r in reversal_requests(sim)] == [trans_id]
    assert status_requests(sim)[0]["TransactionID"] == trans_id
    [reversal] = rows(live, Reversal)
    assert (reversal.status, reversal.result_code) == ("succeeded", "0")
    assert count(live, Payout) == 0 and findings(live) == []
    ledger_ok(live)


def test_a_reversal_m_pesa_refuses_is_a_finding_and_never_retried(start_live, sim):
    live = start_live()
    order, trans_id = paid_twice(live, sim, "0711000402")
    sim.simulator.money_in.reverse_elsewhere(trans_id)   # customer care reversed it first
    settle(live, sim, rounds=3)
    assert len(reversal_requests(sim)) == 1
    [reversal] = rows(live, Reversal)
    assert (reversal.status, reversal.result_code) == ("failed", "R000001")
    assert [f["kind"] for f in findings(live)] == ["reversal-failed"]
    assert count(live, Payout) == 0
    ledger_ok(live)
