"""What an STK or paybill callback must get past before it counts: the path token, the address
allowlist, an operator's review of what was refused, and a query confirming a success
(MPESA_CONFIRM_WITH_QUERY). End to end against the Daraja simulator, as test_mpesa_scenarios.py."""
from escrow.models import InboundCallback, PaymentReceived
from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.mpesa_live import (apply_callbacks, attempts, count, findings, ledger_ok, live, order_for,  # noqa: F401
                                  post, rows, settle, sim, start_live, state, stk_success_body)


def test_a_forged_callback_with_a_wrong_token_is_404_and_has_no_effect(live, sim):
    buyer = "0711000010"
    order = order_for(live, sim, buyer, "no_callback")
    [attempt] = attempts(live, order.reference)
    body = stk_success_body(attempt.checkout_request_id, order.charge, "FORGED0001")
    for path in ("/hooks/stk/wrong-token", "/hooks/stk/", "/hooks/c2b/confirmation/wrong-token"):
        assert post(live, path, body).status_code == 404
    assert count(live, InboundCallback) == 0
    assert state(live, buyer, order.reference) == "awaiting_payment"


def test_a_callback_from_an_address_off_the_allowlist_is_acknowledged_kept_and_ignored(start_live, sim):
    live = start_live(MPESA_ALLOWED_IPS="196.201.214.200,196.201.212.0/24", TRUST_PROXY="1",
                      STK_QUERY_AFTER_SECONDS="600")
    buyer = "0711000011"
    order = order_for(live, sim, buyer, "no_callback")
    [attempt] = attempts(live, order.reference)
    body = stk_success_body(attempt.checkout_request_id, order.charge, "FORGED0002")
    for forwarded in ("6.6.6.6", "196.201.214.200, 6.6.6.6", None):   # only the last hop counts
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        answer = post(live, f"/hooks/stk/{CALLBACK_TOKEN}", body, **headers)
        assert answer.status_code == 200 and answer.json()["ResultCode"] == 0
    assert [c.status for c in rows(live, InboundCallback)] == ["rejected"] * 3
    assert state(live, buyer, order.reference) == "awaiting_payment" and count(live, PaymentReceived) == 0
    answer = post(live, f"/hooks/stk/{CALLBACK_TOKEN}", body, **{"X-Forwarded-For": "6.6.6.6, 196.201.214.200"})
    assert answer.status_code == 200
    live.run_worker()
    assert state(live, buyer, order.reference) == "funded"
    ledger_ok(live)


def test_an_operator_reviews_refused_and_malformed_callbacks_with_numbers_masked(start_live, sim):
    live = start_live(MPESA_ALLOWED_IPS="196.201.214.200", TRUST_PROXY="1")
    buyer = "0711000012"
    order = order_for(live, sim, buyer, "no_callback")
    [attempt] = attempts(live, order.reference)
    forged = post(live, f"/hooks/stk/{CALLBACK_TOKEN}", stk_success_body(attempt.checkout_request_id, order.charge,
                                                                        "FORGED0009"), **{"X-Forwarded-For": "6.6.6.6"})
    garbled = post(live, f"/hooks/b2c/result/{CALLBACK_TOKEN}", {"Result": "not a result"},
                   **{"X-Forwarded-For": "196.201.214.200"})
    assert forged.status_code == garbled.status_code == 200
    listed = live.cli("callbacks", "list", "--review").output.splitlines()
    assert [line.split()[3:6] for line in listed] == [["EAT", "b2c_result", "malformed"], ["EAT", "stk", "rejected"]]
    assert "from=6.6.6.6 source address 6.6.6.6 is not allowed" in listed[1]
    stk_id = listed[1].split()[0].lstrip("#")
    shown = live.cli("callbacks", "show", stk_id).output
    assert "FORGED0009" in shown and "0712***678" in shown and "254712345678" not in shown
    assert '"Value": 254712345678' in live.cli("callbacks", "show", stk_id, "--reveal").output
    assert live.cli("callbacks", "list", "--source", "b2c_result").output.count("\n") == 1
    assert live.cli("callbacks", "show", "999999").exit_code == 1
    assert state(live, buyer, order.reference) == "awaiting_payment" and count(live, PaymentReceived) == 0


def test_confirm_with_query_holds_a_success_until_the_query_agrees(start_live, sim):
    live = start_live(MPESA_CONFIRM_WITH_QUERY="always", STK_QUERY_AFTER_SECONDS="600")
    buyer = "0711000012"
    order = order_for(live, sim, buyer)
    assert apply_callbacks(live) == 1
    assert [c.status for c in rows(live, InboundCallback)] == ["unconfirmed"]
    assert state(live, buyer, order.reference) == "awaiting_payment"
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    [attempt] = attempts(live, order.reference)
    assert attempt.receipt == f"QRY-{attempt.id}"   # the query vouches for the payment, not the callback's receipt;
                                                      # M-Pesa's own receipt comes with the statement
    ledger_ok(live)


def test_confirm_with_query_refuses_a_forged_success_the_query_contradicts(start_live, sim):
    live = start_live(MPESA_CONFIRM_WITH_QUERY="always", STK_QUERY_AFTER_SECONDS="600")
    buyer = "0711000013"
    order = order_for(live, sim, buyer, "cancelled")
    [attempt] = attempts(live, order.reference)
    forged = stk_success_body(attempt.checkout_request_id, order.charge, "FORGED0003")
    assert post(live, f"/hooks/stk/{CALLBACK_TOKEN}", forged).status_code == 200
    settle(live, sim)
    assert state(live, buyer, order.reference) == "awaiting_payment" and count(live, PaymentReceived) == 0
    stored = {(c.status, "FORGED0003" in c.body) for c in rows(live, InboundCallback, InboundCallback.source == "stk")}
    assert stored == {("rejected", True), ("applied", False)}   # the forged success; M-Pesa's own failure
    assert [f["kind"] for f in findings(live)] == ["stk-callback-contradicted"]
    assert attempts(live, order.reference)[0].status == "failed"
    ledger_ok(live)


