"""B2C payouts end to end: a queue timeout, definite failures (final or retryable), a lost result and no
result at all, each settled once. Against the Daraja simulator, as test_mpesa_scenarios.py."""
import time

from escrow.models import InboundCallback, Payout
from tests.e2e.mpesa_live import (b2c_requests, count, findings, funded_and_released, ledger_ok,  # noqa: F401
                                  live, rows, settle, sim, start_live, state)


def test_b2c_queue_timeout_then_success_pays_once(live, sim):
    buyer = "0711000016"
    order = funded_and_released(live, sim, buyer, "b2c_queue_timeout_then_success")
    settle(live, sim)
    assert state(live, buyer, order.reference) == "paid_out"
    [payout] = rows(live, Payout)
    assert payout.status == "succeeded" and len(b2c_requests(sim)) == 1
    assert count(live, InboundCallback, InboundCallback.source == "b2c_timeout") == 1
    ledger_ok(live)


def test_b2c_definite_failure_with_a_final_code_goes_to_review_never_resent(live, sim):
    buyer = "0711000017"
    order = funded_and_released(live, sim, buyer, "b2c_failure")
    settle(live, sim)
    assert state(live, buyer, order.reference) == "released"
    [payout] = rows(live, Payout)
    assert (payout.status, payout.result_code) == ("failed", "2001") and len(b2c_requests(sim)) == 1
    assert [f["kind"] for f in findings(live)] == ["payout-failed"]
    ledger_ok(live)


def test_b2c_definite_failure_with_a_retryable_code_is_retried_under_a_new_id(live, sim):
    buyer = "0711000018"
    order = funded_and_released(live, sim, buyer, "b2c_retryable_failure")
    settle(live, sim)
    assert state(live, buyer, order.reference) == "paid_out"
    payouts = rows(live, Payout)
    assert [(p.status, p.result_code) for p in payouts] == [("failed", "17"), ("succeeded", "0")]
    first = payouts[0]
    assert payouts[1].originator_conversation_id == f"{first.originator_conversation_id}-2"
    sent = [r["json"]["OriginatorConversationID"] for r in b2c_requests(sim)]
    assert sent == [first.originator_conversation_id, payouts[1].originator_conversation_id]
    assert findings(live) == []
    ledger_ok(live)


def test_b2c_failure_whose_result_is_lost_is_settled_failed_by_a_status_query_and_flagged(live, sim):
    buyer = "0711000040"
    order = funded_and_released(live, sim, buyer, "b2c_failure_no_result")
    assert sim.drain(10)
    time.sleep(1.1)   # B2C_QUERY_AFTER_SECONDS=1
    settle(live, sim, rounds=3)
    assert state(live, buyer, order.reference) == "released"
    [payout] = rows(live, Payout)
    assert (payout.status, payout.result_code) == ("failed", "Failed") and len(b2c_requests(sim)) == 1
    assert any(r["path"] == "/mpesa/transactionstatus/v1/query" for r in sim.requests_received())
    assert [f["kind"] for f in findings(live)] == ["payout-failed"]
    ledger_ok(live)


def test_b2c_status_failed_is_retried_when_listed_in_the_retry_codes(start_live, sim):
    live, buyer = start_live(B2C_RETRY_CODES="17,Failed"), "0711000041"
    order = funded_and_released(live, sim, buyer, "b2c_failure_no_result")
    assert sim.drain(10)
    time.sleep(1.1)
    settle(live, sim, rounds=3)
    assert state(live, buyer, order.reference) == "paid_out"
    payouts = rows(live, Payout)
    assert [(p.status, p.result_code) for p in payouts] == [("failed", "Failed"), ("succeeded", "0")]
    assert len(b2c_requests(sim)) == 2 and findings(live) == []
    ledger_ok(live)


def test_b2c_without_any_result_is_settled_by_a_status_query(live, sim):
    buyer = "0711000019"
    order = funded_and_released(live, sim, buyer, "b2c_no_result")
    assert sim.drain(10)
    [payout] = rows(live, Payout)
    assert payout.status == "sent"
    time.sleep(1.1)   # B2C_QUERY_AFTER_SECONDS=1
    settle(live, sim, rounds=3)
    assert state(live, buyer, order.reference) == "paid_out"
    [payout] = rows(live, Payout)
    assert payout.status == "succeeded" and len(b2c_requests(sim)) == 1
    assert any(r["path"] == "/mpesa/transactionstatus/v1/query" for r in sim.requests_received())
    ledger_ok(live)


