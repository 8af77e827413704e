"""Issue 11 finding 3: money never leaves on the word of an unverified callback.

The real app over HTTP, the worker and the Daraja simulator over HTTP, with confirmation on
(MPESA_CONFIRM_WITH_QUERY=always, what live mode forces): a C2B confirmation is checked by a
Transaction Status query on its TransID (PartyA the paybill) before it funds or is returned; a
contradicted one is held with a finding and has no ledger effect; money for an order that can no
longer take it, paid from a masked number, goes back by Daraja's Reversal, never by B2C."""
from sqlalchemy import select

from escrow.models import InboundCallback, JournalEntry, Order, PaymentReceived, Payout
from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.mpesa_live import (  # noqa: F401 (fixtures)
    attempts, count, findings, ledger_ok, order_for, post, rows, settle, sim, start_live, stk_success_body)

CONFIRMING = {"MPESA_CONFIRM_WITH_QUERY": "always"}
CONFIRM_PATH = f"/hooks/c2b/confirmation/{CALLBACK_TOKEN}"


def state(live, reference: str) -> str:
    with live.zemi.db.transaction() as session:
        return session.scalar(select(Order.state).where(Order.reference == reference))


def paybill_body(order, trans_id: str, amount: int | None = None) -> dict:
    return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20261202101010",
            "TransAmount": f"{order.charge if amount is None else amount}.00", "BusinessShortCode": "174379",
            "BillRefNumber": order.reference, "InvoiceNumber": "", "OrgAccountBalance": "1000.00",
            "ThirdPartyTransID": "", "MSISDN": "2547 ***** 126", "FirstName": "JOHN", "MiddleName": "",
            "LastName": ""}


def money_out_requests(sim) -> list[dict]:
    return [r for r in sim.requests_received()
            if r["path"].startswith("/mpesa/b2c/") or r["path"].startswith("/mpesa/reversal/")]


def status_requests(sim) -> list[dict]:
    return [r["json"] for r in sim.requests_received("/mpesa/transactionstatus/v1/query")]


def funded_order(live, sim, buyer: str):
    order = order_for(live, sim, buyer)
    settle(live, sim)
    assert state(live, order.reference) == "funded"
    return order


def test_sixteen_forged_paybill_confirmations_for_a_funded_order_pay_nothing_out(start_live, sim):
    live = start_live(**CONFIRMING)
    order = funded_order(live, sim, "0711000301")
    entries_before = count(live, JournalEntry)
    for n in range(16):
        reply = post(live, CONFIRM_PATH, paybill_body(order, f"FORGED{n:04d}"))
        assert reply.json() == {"ResultCode": 0, "ResultDesc": "Success"}
    settle(live, sim, rounds=3)
    assert money_out_requests(sim) == []
    assert count(live, Payout) == 0 and count(live, PaymentReceived) == 1
    assert count(live, JournalEntry) == entries_before          # no ledger effect at all
    forged = rows(live, InboundCallback, InboundCallback.source == "c2b_confirmation")
    assert [c.status for c in forged] == ["contradicted"] * 16
    assert sorted(f["kind"] for f in findings(live)) == ["paybill-contradicted"] * 16
    assert len(status_requests(sim)) == 16
    assert state(live, order.reference) == "funded"
    ledger_ok(live)


def test_a_forged_paybill_confirmation_never_funds_an_order_and_is_held_for_review(start_live, sim):
    live = start_live(**CONFIRMING)
    order = order_for(live, sim, "0711000302", "cancelled")
    settle(live, sim)
    assert post(live, CONFIRM_PATH, paybill_body(order, "FORGED9999")).status_code == 200
    assert state(live, order.reference) == "awaiting_payment"       # held before any query
    [held] = rows(live, InboundCallback, InboundCallback.source == "c2b_confirmation")
    assert held.status == "unconfirmed"
    settle(live, sim)
    assert state(live, order.reference) == "awaiting_payment"
    assert count(live, PaymentReceived) == 0 and count(live, JournalEntry) == 0
    [finding] = findings(live)
    assert finding["kind"] == "paybill-contradicted" and finding["trans_id"] == "FORGED9999"
    [status] = status_requests(sim)
    assert (status["TransactionID"], status["PartyA"], status["IdentifierType"]) == ("FORGED9999", "174379", "4")
    assert "contradicted" in live.cli("callbacks", "list", "--review").output   # listed for an operator
    ledger_ok(live)


def test_a_real_paybill_payment_is_confirmed_by_transaction_status_before_it_funds(start_live, sim):
    live = start_live(MPESA_C2B_INITIATOR_NAME="paybillop", MPESA_C2B_SECURITY_CREDENTIAL="paybill-cred",
                      **CONFIRMING)
    assert live.cli("mpesa", "register-urls").exit_code == 0
    order = order_for(live, sim, "0711000303", "cancelled")
    settle(live, sim)
    trans_id = sim.pay_bill("0711000303", order.charge, order.reference)
    assert sim.drain(10)
    assert state(live, order.reference) == "awaiting_payment"       # held until M-Pesa says so
    settle(live, sim)
    assert state(live, order.reference) == "funded"
    [received] = rows(live, PaymentReceived)
    assert (received.receipt, received.channel, received.outcome) == (trans_id, "paybill", "funded")
    [status] = status_requests(sim)
    assert (status["Initiator"], status["SecurityCredential"], status["PartyA"], status["IdentifierType"],
            status["TransactionID"]) == ("paybillop", "paybill-cred", "174379", "4", trans_id)
    assert findings(live) == []
    ledger_ok(live)


def test_a_masked_paybill_overpayment_is_reversed_never_sent_by_b2c(start_live, sim):
    live = start_live(**CONFIRMING)
    assert live.cli("mpesa", "register-urls").exit_code == 0
    buyer = "0711000304"
    order = order_for(live, sim, buyer, "cancelled")
    settle(live, sim)
    first = sim.pay_bill(buyer, order.charge, order.reference)
    second = sim.pay_bill(buyer, order.charge, order.reference)  # validated too: the first is still held
    assert sim.drain(10)
    settle(live, sim, rounds=3)
    assert state(live, order.reference) == "funded"
    outcomes = {r.receipt: r.outcome for r in rows(live, PaymentReceived)}
    assert sorted(outcomes) == sorted([first, second])
    assert sorted(outcomes.values()) == ["funded", "refunding"]
    [second] = [receipt for receipt, outcome in outcomes.items() if outcome == "refunding"]
    assert [r["path"] for r in money_out_requests(sim)] == ["/mpesa/reversal/v1/request"]
    [reversal] = [r["json"] for r in money_out_requests(sim)]
    assert (reversal["CommandID"], reversal["TransactionID"], str(reversal["Amount"]), reversal["ReceiverParty"],
            reversal["RecieverIdentifierType"]) == ("TransactionReversal", second, str(order.charge), "174379", "11")
    assert count(live, Payout) == 0
    from escrow.models import Reversal
    [done] = rows(live, Reversal)
    assert (done.trans_id, done.status, done.amount) == (second, "succeeded", order.charge)
    ledger_ok(live)


def test_a_forged_status_answer_with_the_callback_token_alone_is_ignored(start_live, sim):
    live = start_live(**CONFIRMING)
    result = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "OriginatorConversationID": "x",
                         "ConversationID": "y", "TransactionID": "Z"}}
    reply = post(live, f"/hooks/c2b/status/{CALLBACK_TOKEN}/1/0123456789abcdef0123456789abcdef", result)
    assert reply.status_code == 200
    [stored] = rows(live, InboundCallback, InboundCallback.source == "c2b_status")
    assert stored.status == "rejected"


def test_a_forged_stk_success_waits_for_the_query_and_is_never_funded_while_pending(start_live, sim):
    live = start_live(**CONFIRMING)
    buyer = "0711000305"
    order = order_for(live, sim, buyer, "late_callback", wait=False)
    [attempt] = attempts(live, order.reference)
    forged = stk_success_body(attempt.checkout_request_id, order.charge, "FORGED0305")
    assert post(live, f"/hooks/stk/{CALLBACK_TOKEN}", forged).status_code == 200
    live.run_worker()   # the query says "being processed"
    assert state(live, order.reference) == "awaiting_payment" and count(live, PaymentReceived) == 0
    assert [c.status for c in rows(live, InboundCallback, InboundCallback.source == "stk")] == ["unconfirmed"]


def test_a_forged_stk_success_the_query_confirms_funds_what_we_asked_never_the_forged_amount(start_live, sim):
    live = start_live(**CONFIRMING)
    buyer = "0711000306"
    order = order_for(live, sim, buyer, "late_callback", wait=False)
    [attempt] = attempts(live, order.reference)
    forged = stk_success_body(attempt.checkout_request_id, order.charge + 5_000, "FORGED0306")
    assert post(live, f"/hooks/stk/{CALLBACK_TOKEN}", forged).status_code == 200
    assert sim.drain(10)       # the buyer really pays; M-Pesa's own callback is held too
    settle(live, sim)
    assert state(live, order.reference) == "funded"
    [received] = rows(live, PaymentReceived)
    assert (received.amount, received.outcome) == (order.charge, "funded")
    assert "FORGED0306" not in (received.receipt, attempts(live, order.reference)[0].receipt)
    assert [f["kind"] for f in findings(live)] == ["stk-callback-amount-forged"]
    assert "suspense holds" not in ledger_ok(live)


def test_an_unreadable_answer_to_a_signed_status_url_is_kept_as_malformed_and_the_payment_stays_held(start_live, sim):
    from escrow.reversals import reply_tag
    live = start_live(**CONFIRMING)
    order = order_for(live, sim, "0711000307", "cancelled")
    settle(live, sim)
    post(live, CONFIRM_PATH, paybill_body(order, "FORGED0307"))
    [held] = rows(live, InboundCallback, InboundCallback.source == "c2b_confirmation")
    url = f"{live.base_url}/hooks/c2b/status/{CALLBACK_TOKEN}/{reply_tag(live.zemi.core, 'c2b_status', held.id)}"
    import requests
    assert requests.post(url, data=b'{"Result": [1e999999', timeout=10).status_code == 200
    [answer] = rows(live, InboundCallback, InboundCallback.source == "c2b_status")
    assert answer.status == "malformed"
    assert rows(live, InboundCallback, InboundCallback.id == held.id)[0].status == "unconfirmed"
    assert state(live, order.reference) == "awaiting_payment"


def test_the_signed_tag_of_an_answer_url_never_reaches_a_log_line(start_live, sim, caplog):
    import logging
    live = start_live(**CONFIRMING)
    assert live.cli("mpesa", "register-urls").exit_code == 0
    order = order_for(live, sim, "0711000308", "cancelled")
    settle(live, sim)
    with caplog.at_level(logging.DEBUG):
        sim.pay_bill("0711000308", order.charge, order.reference)
        assert sim.drain(10)
        settle(live, sim)
    assert state(live, order.reference) == "funded"
    [delivery] = [d for d in sim.callbacks_delivered() if "/hooks/c2b/status/" in d["url"]]
    tag = delivery["url"].rsplit("/", 1)[1]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/hooks/c2b/status/***/" in logged and tag not in logged and CALLBACK_TOKEN not in logged


def test_a_held_stk_success_is_queried_at_once_by_the_worker_not_at_the_next_reconcile_pass(start_live, sim):
    live = start_live(**CONFIRMING)
    buyer = "0711000309"
    order = order_for(live, sim, buyer)           # the push, and M-Pesa's callback (held)
    assert state(live, order.reference) == "awaiting_payment"
    worker = live.zemi.worker()
    worker.reconciler = None                      # the outbox alone: no reconcile pass
    worker.run_once()
    assert state(live, order.reference) == "funded"
    ledger_ok(live)
