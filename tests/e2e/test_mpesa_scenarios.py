"""M-Pesa's STK prompt end to end: the real app over HTTP, the worker (with its reconcile pass) and the
Daraja simulator over HTTP, on SQLite and PostgreSQL. Each scenario converges with the ledger balanced
(`flask ledger check` exits 0) and no double payment. The callback defences, the paybill and B2C payouts
have their own modules (test_mpesa_callback_defences.py, test_mpesa_paybill.py, test_mpesa_payouts.py)."""
import json
import threading
import time

import pytest
import requests
from sqlalchemy import func, update

from escrow.models import InboundCallback, JournalEntry, Order, OutboxItem, PaymentAttempt, PaymentReceived, Payout
from tests.e2e.conftest import CALLBACK_TOKEN, SIMULATED_PAYMENT_SECONDS
from tests.e2e.mpesa_live import (SELLER, apply_callbacks, attempts, count, ledger_ok, live, order_for,  # noqa: F401
                                  post, rows, settle, sim, start_live, state, stk_success_body)


def test_success_funds_the_order_once_and_texts_the_code(live, sim):
    buyer = "0711000001"
    order = order_for(live, sim, buyer)
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    [attempt] = attempts(live, order.reference)
    assert attempt.status == "succeeded" and not attempt.receipt.startswith("QRY-")
    assert count(live, PaymentReceived) == 1 and count(live, JournalEntry, JournalEntry.kind == "funding") == 1
    assert any("Delivery code" in text for text in live.texts_to(buyer))
    ledger_ok(live)


FAILURES = [("cancelled", "1032", "you cancelled the M-Pesa prompt"),
            ("unreachable", "1037", "your phone could not be reached"),
            ("insufficient_funds", "1", "your M-Pesa balance was not enough"),
            ("wrong_pin", "2001", "the M-Pesa PIN was wrong"),
            ("busy", "1001", "your line was busy"),
            ("rule_limited", "17", "wait 2 minutes"),
            ("expired", "1019", "the M-Pesa prompt timed out")]


@pytest.mark.parametrize("scenario, code, reason", FAILURES, ids=[f[0] for f in FAILURES])
def test_a_failed_prompt_fails_the_attempt_texts_why_and_leaves_the_order_payable(live, sim, scenario, code,
                                                                                   reason):
    buyer = "0711000002"
    order = order_for(live, sim, buyer, scenario)
    settle(live, sim)
    [attempt] = attempts(live, order.reference)
    assert (attempt.status, attempt.result_code) == ("failed", code)
    assert state(live, buyer, order.reference) == "awaiting_payment"
    [text] = [t for t in live.texts_to(buyer) if order.reference in t]
    assert reason in text and f"Paybill 174379, account {order.reference}" in text
    assert count(live, PaymentReceived) == 0
    ledger_ok(live)


def test_after_a_failed_prompt_the_buyer_can_pay_again_and_retries_are_limited(live, sim):
    buyer = "0711000003"
    order = order_for(live, sim, buyer, "cancelled")
    settle(live, sim)
    live.zemi.service.pay_again(buyer, order.reference)
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    assert [a.status for a in attempts(live, order.reference)] == ["failed", "succeeded"]
    from escrow.errors import LimitExceeded
    other = live.zemi.service.create_order(buyer=buyer, seller=SELLER, price=500, item="Shoes")
    with pytest.raises(LimitExceeded):
        for _ in range(5):
            live.zemi.service.pay_again(buyer, other.reference)
    ledger_ok(live)


def test_a_late_callback_still_funds_the_order_and_the_query_meanwhile_says_pending(live, sim):
    buyer = "0711000004"
    order = order_for(live, sim, buyer, "late_callback", wait=False)
    live.run_worker()   # reconcile queries at once (STK_QUERY_AFTER_SECONDS=0): "being processed"
    [attempt] = attempts(live, order.reference)
    assert attempt.status == "sent" and state(live, buyer, order.reference) == "awaiting_payment"
    assert any("stkpushquery" in r["path"] for r in sim.requests_received())
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    assert not attempts(live, order.reference)[0].receipt.startswith("QRY-")
    ledger_ok(live)


def test_a_callback_after_the_pay_by_time_funds_the_order_being_checked(start_live, sim):
    """Issue 11 #1: a push that may still be paid keeps its order payable (checking_payment) past
    pay-by; a late payment to an order that did expire is returned (test_lifecycle)."""
    live = start_live(STK_QUERY_AFTER_SECONDS="600")  # only the late callback may tell us
    buyer = "0711000005"
    order = order_for(live, sim, buyer, "late_callback", wait=False)
    with live.zemi.db.transaction() as session:
        session.execute(update(Order).where(Order.reference == order.reference)
                        .values(pay_by=func.datetime("now", "-1 minute") if live.zemi.db.dialect == "sqlite"
                                else func.now() - func.make_interval(0, 0, 0, 0, 0, 1)))
    live.run_worker()   # the pay-by timer
    assert state(live, buyer, order.reference) == "checking_payment"
    settle(live, sim, rounds=3)   # the late success arrives
    assert state(live, buyer, order.reference) == "funded"
    assert rows(live, Payout) == []
    ledger_ok(live)


def test_a_duplicate_callback_has_one_effect(live, sim):
    buyer = "0711000006"
    order = order_for(live, sim, buyer, "duplicate_callback")
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    stored = rows(live, InboundCallback, InboundCallback.source == "stk")
    assert sorted(c.status for c in stored) == ["applied", "duplicate"]
    assert count(live, PaymentReceived) == 1 and count(live, JournalEntry, JournalEntry.kind == "funding") == 1
    assert sum("Delivery code" in text for text in live.texts_to(buyer)) == 1
    ledger_ok(live)


def test_no_callback_at_all_is_resolved_by_the_reconcile_query(live, sim):
    buyer = "0711000007"
    order = order_for(live, sim, buyer, "no_callback")
    assert sim.drain(10)
    time.sleep(2 * SIMULATED_PAYMENT_SECONDS)  # until then a query truly answers "being processed"
    assert count(live, InboundCallback) == 0
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    [attempt] = attempts(live, order.reference)
    assert attempt.status == "succeeded" and attempt.receipt == f"QRY-{attempt.id}"
    [received] = rows(live, PaymentReceived)
    assert (received.receipt, received.amount) == (attempt.receipt, order.charge)
    ledger_ok(live)
    result = live.cli("reconcile")
    assert result.exit_code == 0 and "0 open finding(s)" in result.output


def test_a_wrong_amount_goes_to_suspense_and_review_never_funded(live, sim):
    buyer = "0711000008"
    order = order_for(live, sim, buyer, "wrong_amount")
    settle(live, sim)
    assert state(live, buyer, order.reference) == "needs_review"
    [received] = rows(live, PaymentReceived)
    assert (received.outcome, received.amount) == ("suspense", order.charge - 1)
    output = ledger_ok(live)
    assert f"suspense holds KES {order.charge - 1:,}" in output


def test_a_callback_that_raced_our_own_write_is_matched_later(live, sim):
    """reliability.md I4: the callback lands before the checkout id is stored; it is kept as an
    orphan and re-applied once the id is known."""
    buyer = "0711000009"
    order = live.zemi.service.create_order(buyer=buyer, seller=SELLER, price=1_000, item="Radio")
    body = stk_success_body("ws_CO_RACE0000000001", order.charge, "RACE000001")
    assert post(live, f"/hooks/stk/{CALLBACK_TOKEN}", body).json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert apply_callbacks(live) == 1
    assert [c.status for c in rows(live, InboundCallback)] == ["orphan"]
    with live.zemi.db.transaction() as session:  # our own write, landing late
        session.execute(update(PaymentAttempt).values(status="sent", checkout_request_id="ws_CO_RACE0000000001"))
        session.execute(update(OutboxItem).where(OutboxItem.kind == "stk_push").values(status="done"))
    live.run_worker()
    assert state(live, buyer, order.reference) == "funded"
    assert [c.status for c in rows(live, InboundCallback, InboundCallback.source == "stk")] == ["applied"]
    ledger_ok(live)


# --- many at once -----------------------------------------------------------------------------
def test_sixteen_identical_callbacks_at_once_fund_the_order_once(live, sim):
    if live.zemi.db.dialect != "postgresql":
        pytest.skip("concurrent callbacks are tested on PostgreSQL")
    buyer = "0711000020"
    order = order_for(live, sim, buyer, "no_callback")
    [attempt] = attempts(live, order.reference)
    body = json.dumps(stk_success_body(attempt.checkout_request_id, order.charge, "CONCUR0001"))
    barrier, statuses = threading.Barrier(16), []

    def fire():
        barrier.wait()
        answer = requests.post(f"{live.base_url}/hooks/stk/{CALLBACK_TOKEN}", data=body,
                               headers={"Content-Type": "application/json"}, timeout=30)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=fire) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 16
    live.run_worker()   # applies the stored callbacks (CALLBACK_APPLY=worker, the default)
    assert state(live, buyer, order.reference) == "funded"
    assert count(live, PaymentReceived) == 1 and count(live, JournalEntry, JournalEntry.kind == "funding") == 1
    stored = [c.status for c in rows(live, InboundCallback)]
    assert len(stored) == 16 and stored.count("applied") == 1
    ledger_ok(live)
