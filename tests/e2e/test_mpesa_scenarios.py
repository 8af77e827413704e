"""Every M-Pesa scenario end to end: the real app over HTTP, the worker (with its reconcile pass)
and the Daraja simulator over HTTP, on SQLite and PostgreSQL. Each converges with the ledger
balanced (`flask ledger check` exits 0) and no double payment."""
import json
import threading
import time

import pytest
import requests
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from app import create_app
from escrow.models import InboundCallback, JournalEntry, Order, OutboxItem, PaymentAttempt, PaymentReceived, Payout
from mpesa.simulator import SimulatorServer
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.e2e.conftest import CALLBACK_TOKEN, SIMULATED_PAYMENT_SECONDS, LiveService, free_port

SELLER = "0722000111"
FAST = {"STK_QUERY_AFTER_SECONDS": "0", "B2C_QUERY_AFTER_SECONDS": "1", "B2C_RETRY_AFTER_SECONDS": "0",
        "RECONCILE_EVERY_SECONDS": "0"}


@pytest.fixture
def sim():
    with SimulatorServer({"callback_delay": 0.05, "late_delay": 0.8}) as server:
        yield server


@pytest.fixture
def start_live(sim, database_url, redis_url, tmp_path):
    """start_live(**settings) -> a LiveService with the reconcile pass on, and these settings added."""
    running = []

    def start(**extra):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        app = create_app({
            "INSTANCE_PATH": str(tmp_path / f"instance{len(running)}"), "DATABASE_URL": database_url,
            "REDIS_URL": redis_url, "MPESA_BASE_URL": sim.base_url, "MPESA_CONSUMER_KEY": "sim-key",
            "MPESA_CONSUMER_SECRET": "sim-secret", "MPESA_SHORTCODE": "174379",
            "MPESA_PASSKEY": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
            "MPESA_B2C_SHORTCODE": "600000", "MPESA_INITIATOR_NAME": "testapi", "MPESA_SECURITY_CREDENTIAL": "cred",
            "PUBLIC_BASE_URL": base_url, "CALLBACK_TOKEN": CALLBACK_TOKEN, "SECRET_KEY": TEST_SECRET_KEY,
            "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console", **FAST, **extra})
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append((server, app))
        return LiveService(app, base_url)

    import redis
    redis.Redis.from_url(redis_url).flushdb()
    yield start
    for server, app in running:
        server.shutdown()
        app.extensions["zemi"].db.dispose()


@pytest.fixture
def live(start_live):
    return start_live()


# --- helpers --------------------------------------------------------------------------------
def settle(live, sim, rounds: int = 2) -> None:
    """Let every simulator callback land and the worker (with its reconcile pass) act on it."""
    for _ in range(rounds):
        live.run_worker()
        assert sim.drain(10)
    live.run_worker()


def apply_callbacks(live) -> int:
    """The worker pass's callback step alone: apply what the STK route only stored
    (CALLBACK_APPLY=worker, the default), without its outbox or reconcile steps."""
    return live.zemi.service.intake.apply_waiting()


def order_for(live, sim, buyer: str, scenario: str | None = None, price: int = 1_000, wait: bool = True):
    """An order and its STK push; with `wait`, the simulator's callbacks have landed on return (so
    the reconcile pass, which queries at once in these tests, never races them)."""
    if scenario:
        sim.set_scenario(buyer, scenario, times=1)
    order = live.zemi.service.create_order(buyer=buyer, seller=SELLER, price=price, item="Blue kitenge")
    live.run_worker()   # the STK push
    if wait:
        assert sim.drain(10)
    return order


def state(live, buyer: str, reference: str) -> str:
    return live.zemi.service.order_for(buyer, reference).state


def rows(live, model, *where):
    with live.zemi.db.transaction() as session:
        return list(session.scalars(select(model).where(*where).order_by(model.id)))


def count(live, model, *where) -> int:
    with live.zemi.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def attempts(live, reference: str) -> list[PaymentAttempt]:
    with live.zemi.db.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == reference))
        return list(session.scalars(select(PaymentAttempt).where(PaymentAttempt.order_id == order_id)
                                    .order_by(PaymentAttempt.id)))


def ledger_ok(live) -> str:
    result = live.cli("ledger", "check")
    assert result.exit_code == 0, result.output
    return result.output


def findings(live) -> list[dict]:
    return live.zemi.service.open_findings()


def stk_success_body(checkout_id: str, amount: int, receipt: str) -> dict:
    return {"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout_id, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [
            {"Name": "Amount", "Value": float(amount)}, {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20240706224852},
            {"Name": "PhoneNumber", "Value": 254712345678}]}}}}


def post(live, path: str, body, **headers):
    return requests.post(f"{live.base_url}{path}", json=body, headers=headers, timeout=10)


def release(live, sim, buyer: str, reference: str) -> None:
    """The seller enters the buyer's delivery code: the order is released and its payout queued."""
    service = live.zemi.service
    match = service.check_delivery_code(caller=SELLER, code=live.delivery_code(buyer))
    assert service.confirm_delivery(caller=SELLER, reference=reference, token=match.token).state == "released"


def b2c_requests(sim) -> list[dict]:
    return [r for r in sim.requests_received() if r["path"].startswith("/mpesa/b2c/")]


# --- STK ----------------------------------------------------------------------------------
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


# --- defences -------------------------------------------------------------------------------
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


# --- paybill (C2B) ----------------------------------------------------------------------------
def test_paybill_payment_is_validated_and_funds_the_order(live, sim):
    buyer = "0711000014"
    result = live.cli("mpesa", "register-urls")
    assert result.exit_code == 0, result.output
    order = order_for(live, sim, buyer, "cancelled")   # the prompt failed; the SMS says use the paybill
    settle(live, sim)
    assert "Paybill 174379" in live.texts_to(buyer)[-1]
    sim.pay_bill(buyer, order.charge - 5, order.reference)   # wrong amount: refused at validation
    sim.pay_bill(buyer, order.charge, "99999999")            # no such order: refused at validation
    assert sim.drain(10)
    validations = rows(live, InboundCallback, InboundCallback.source == "c2b_validation")
    assert [(c.status, c.note) for c in validations] == [("refused", "C2B00013"), ("refused", "C2B00012")]
    assert count(live, InboundCallback, InboundCallback.source == "c2b_confirmation") == 0
    trans_id = sim.pay_bill(buyer, order.charge, order.reference)
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    [received] = rows(live, PaymentReceived)
    assert (received.receipt, received.channel, received.outcome) == (trans_id, "paybill", "funded")
    ledger_ok(live)


def test_paybill_answers_use_dajaras_codes_and_a_confirmation_for_no_order_is_held(live, sim):
    buyer = "0711000015"
    order = order_for(live, sim, buyer, "no_callback")
    base = {"TransactionType": "Pay Bill", "TransID": "SIMPB00001", "TransTime": "20240706224852",
            "TransAmount": f"{order.charge}.00", "BusinessShortCode": "174379", "BillRefNumber": order.reference,
            "InvoiceNumber": "", "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 001",
            "FirstName": "JOHN", "MiddleName": "", "LastName": ""}
    validate = f"/hooks/c2b/validation/{CALLBACK_TOKEN}"
    assert post(live, validate, base).json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert post(live, validate, {**base, "BusinessShortCode": "600999"}).json()["ResultCode"] == "C2B00015"
    assert post(live, validate, {**base, "TransAmount": "1"}).json()["ResultCode"] == "C2B00013"
    assert post(live, validate, {**base, "BillRefNumber": "12"}).json()["ResultCode"] == "C2B00012"
    assert post(live, validate, {"nonsense": True}).json()["ResultCode"] == "C2B00016"
    confirm = f"/hooks/c2b/confirmation/{CALLBACK_TOKEN}"
    stray = {**base, "TransID": "SIMPB00002", "BillRefNumber": "nobody"}
    for _ in range(2):  # the same TransID twice: one effect
        assert post(live, confirm, stray).json() == {"ResultCode": 0, "ResultDesc": "Success"}
    assert count(live, PaymentReceived) == 1
    assert [f["kind"] for f in findings(live)] == ["paybill-unmatched"]
    assert state(live, buyer, order.reference) == "awaiting_payment"
    assert "suspense holds KES" in ledger_ok(live)


# --- B2C ------------------------------------------------------------------------------------
def funded_and_released(live, sim, buyer: str, scenario: str | None):
    order = order_for(live, sim, buyer)
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    if scenario:
        sim.set_scenario(SELLER, scenario, times=1)
    release(live, sim, buyer, order.reference)
    live.run_worker()   # the B2C request
    return order


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


# --- concurrency ----------------------------------------------------------------------------
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
