"""What M-Pesa says about money out is recorded as it happened, and what we did not expect is a
finding (issue 11 findings 7, 10, 11): a late success after a retry, a result for another amount,
an amount we cannot read, a ceiling on callback amounts, and `flask ledger check` naming anomalies."""
from datetime import timedelta

import pytest
from sqlalchemy import update

from escrow import ledger
from escrow.models import InboundCallback, PaymentAttempt, Payout
from escrow.payouts import RESULT, transfer_reply
from tests.e2e.mpesa_live import (CALLBACK_TOKEN, SELLER, apply_callbacks, findings,  # noqa: F401
                                  funded_and_released, ledger_ok, live, post, rows, settle, sim,
                                  start_live, state, stk_success_body)


def b2c_success(originator: str, amount, receipt: str) -> dict:
    return {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "OriginatorConversationID": originator,
                       "ConversationID": f"AG_late_{receipt}", "TransactionID": receipt,
                       "ResultParameters": {"ResultParameter": [
                           {"Key": "TransactionAmount", "Value": amount}, {"Key": "TransactionReceipt", "Value": receipt},
                           {"Key": "ReceiverPartyPublicName", "Value": "254722000111 - JOHN DOE"}]}}}


def post_result(live, body):
    """As Daraja sends it: to the ResultURL the transfer was sent with (its id and tag, the only place
    a B2C result is believed: escrow/transfer_answers.py), with that transfer's ConversationID."""
    originator = body["Result"]["OriginatorConversationID"]
    [payout] = rows(live, Payout, Payout.originator_conversation_id == originator)
    body["Result"]["ConversationID"] = payout.conversation_id or body["Result"]["ConversationID"]
    reply_to = transfer_reply(live.zemi.core, RESULT, payout.id, originator)
    response = post(live, f"/hooks/b2c/result/{CALLBACK_TOKEN}/{reply_to}", body)
    assert response.status_code == 200 and response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}


def balance(live, account: str) -> int:
    with live.zemi.db.transaction() as session:
        return ledger.balance(session, account)


def ledger_check(live):
    return live.cli("ledger", "check")


# --- finding 7: a late success after a retried payout ---------------------------------------
def test_a_late_success_for_a_retried_payout_is_a_double_payment_recorded_and_flagged(live, sim):
    buyer = "0711000071"
    order = funded_and_released(live, sim, buyer, "b2c_retryable_failure")
    settle(live, sim)
    first, second = rows(live, Payout)
    assert (first.status, second.status, state(live, buyer, order.reference)) == ("failed", "succeeded", "paid_out")
    cash_before = balance(live, ledger.MPESA_CASH)

    for _ in range(2):   # the late success, twice: one effect
        post_result(live, b2c_success(first.originator_conversation_id, first.amount, "LATE7RCPT"))
    first, second = rows(live, Payout)
    assert (first.status, first.receipt, second.status) == ("double_paid", "LATE7RCPT", "succeeded")
    assert balance(live, ledger.MPESA_CASH) == cash_before - first.amount       # the money did go out
    assert balance(live, ledger.OVERPAID) == first.amount                         # to be recovered
    [finding] = [f for f in findings(live) if f["kind"] == "double-payment"]
    assert finding["order"] == order.reference and finding["receipt"] == "LATE7RCPT"
    assert finding["amount"] == first.amount and finding["recipient"] == "0722***111"
    assert "Reversal" in finding["summary"]
    assert [c.status for c in rows(live, InboundCallback, InboundCallback.source == "b2c_result")][-2:] == \
        ["applied", "duplicate"]
    output = ledger_ok(live)
    assert "double payment" in output


def test_a_late_success_while_the_retry_is_still_queued_cancels_the_retry(live, sim):
    buyer = "0711000072"
    order = funded_and_released(live, sim, buyer, "b2c_retryable_failure")
    assert sim.drain(10)
    live.zemi.reconciler.run()          # the retry is queued, not yet sent
    first, retry = rows(live, Payout)
    assert (first.status, retry.status) == ("failed", "queued")
    post_result(live, b2c_success(first.originator_conversation_id, first.amount, "LATE7Q"))
    settle(live, sim)
    first, retry = rows(live, Payout)
    assert (first.status, retry.status, retry.result_code) == ("succeeded", "failed", "superseded")
    assert state(live, buyer, order.reference) == "paid_out"
    assert len([r for r in sim.requests_received() if r["path"].startswith("/mpesa/b2c/")]) == 1
    ledger_ok(live)


def test_a_late_success_while_the_retry_is_in_flight_is_recorded_and_flagged_as_a_possible_double(live, sim):
    buyer = "0711000078"
    order = funded_and_released(live, sim, buyer, "b2c_retryable_failure")
    assert sim.drain(10)
    sim.set_scenario(SELLER, "b2c_no_result", times=1)
    live.run_worker()                   # the reconcile pass retries it, and the retry is sent
    first, retry = rows(live, Payout)
    assert (first.status, retry.status) == ("failed", "sent")
    post_result(live, b2c_success(first.originator_conversation_id, first.amount, "LATE7F"))
    first, retry = rows(live, Payout)
    assert (first.status, retry.status) == ("double_paid", "sent")
    [finding] = [f for f in findings(live) if f["kind"] == "double-payment"]
    assert "may be paid too" in finding["summary"] and finding["receipt"] == "LATE7F"
    assert balance(live, ledger.OVERPAID) == first.amount and state(live, buyer, order.reference) == "released"
    ledger_ok(live)


# --- finding 10: the amount of a B2C result -------------------------------------------------
@pytest.mark.parametrize("amount", ["1,000", "１００", 1e308, 2 ** 63, "1e5", "NaN", True, -5, 0])
def test_a_b2c_success_with_an_unreadable_amount_is_malformed_and_settles_nothing(live, sim, amount):
    buyer = "0711000073"
    funded_and_released(live, sim, buyer, "b2c_no_result")
    assert sim.drain(10)
    [payout] = rows(live, Payout)
    post_result(live, b2c_success(payout.originator_conversation_id, amount, "AMT10RCPT"))
    [payout] = rows(live, Payout)
    assert payout.status == "sent"
    [callback] = rows(live, InboundCallback, InboundCallback.source == "b2c_result")
    assert callback.status == "malformed"
    ledger_ok(live)


def test_a_b2c_success_for_less_than_we_sent_is_recorded_as_paid_and_flagged(live, sim):
    buyer = "0711000074"
    order = funded_and_released(live, sim, buyer, "b2c_no_result")
    assert sim.drain(10)
    [payout] = rows(live, Payout)
    payable = -balance(live, ledger.SELLER_PAYABLE)
    post_result(live, b2c_success(payout.originator_conversation_id, payout.amount - 100, "SHORT10"))
    [payout] = rows(live, Payout)
    assert payout.status == "succeeded"
    assert -balance(live, ledger.SELLER_PAYABLE) == payable - (payout.amount - 100) == 100   # still owed
    assert state(live, buyer, order.reference) == "released"        # not closed as paid out
    [finding] = [f for f in findings(live) if f["kind"] == "payout-amount-mismatch"]
    assert finding["paid"] == payout.amount - 100 and finding["expected"] == payout.amount
    ledger_ok(live)


def test_a_b2c_success_for_more_than_we_sent_closes_the_order_and_flags_the_excess(live, sim):
    buyer = "0711000075"
    order = funded_and_released(live, sim, buyer, "b2c_no_result")
    assert sim.drain(10)
    [payout] = rows(live, Payout)
    post_result(live, b2c_success(payout.originator_conversation_id, payout.amount + 50, "OVER10"))
    assert state(live, buyer, order.reference) == "paid_out"
    assert balance(live, ledger.SELLER_PAYABLE) == 0 and balance(live, ledger.OVERPAID) == 50
    assert [f["kind"] for f in findings(live)] == ["payout-amount-mismatch"]
    ledger_ok(live)


# --- finding 11: a ceiling on callback amounts, and what ledger check reports ----------------
def test_a_forged_stk_success_of_two_to_the_63_minus_one_is_malformed_and_ledger_check_stays_ok(live, sim):
    live.zemi.service.create_order(buyer="0711000076", seller=SELLER, price=1_000, item="Radio")
    with live.zemi.db.transaction() as session:
        session.execute(update(PaymentAttempt).values(status="sent", checkout_request_id="ws_CO_forged"))
    response = post(live, f"/hooks/stk/{CALLBACK_TOKEN}", stk_success_body("ws_CO_forged", 2 ** 63 - 1, "FORGED1"))
    assert response.status_code == 200
    assert apply_callbacks(live) == 1     # the worker's callback step (CALLBACK_APPLY=worker, the default)
    [callback] = rows(live, InboundCallback, InboundCallback.source == "stk")
    assert callback.status == "malformed" and balance(live, ledger.SUSPENSE) == 0
    ledger_ok(live)


def test_ledger_check_fails_on_an_implausible_amount_and_warns_of_unresolved_anomalies(live):
    live.zemi.service.create_order(buyer="0711000077", seller=SELLER, price=1_000, item="Radio")
    with live.zemi.db.transaction() as session:
        session.execute(update(PaymentAttempt).values(status="unknown"))
        ledger.post(session, kind="suspense", dedupe_key="in:forged", order_id=None,
                    lines=[ledger.debit(ledger.MPESA_CASH, 2 ** 62), ledger.credit(ledger.SUSPENSE, 2 ** 62)])
    callback_id = live.zemi.service.store_callback(source="stk", body=b"{}", remote_addr=None)
    with live.zemi.db.transaction() as session:
        row = session.get(InboundCallback, callback_id)
        row.received_at = row.received_at - timedelta(hours=2)
    result = ledger_check(live)
    assert result.exit_code == 1
    assert "implausible" in result.output
    assert "WARNING: 1 payment attempt(s) unknown with no finding" in result.output
    assert "WARNING: 1 callback(s) stored but not processed" in result.output
    assert "WARNING: suspense" in result.output and "not explained by a finding" in result.output
