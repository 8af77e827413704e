"""Reconciliation against real databases and a scriptable fake gateway: queries resolve what
callbacks did not, never downgrade a success, and failed or unknown payouts converge or go to review."""
import json
import re

import pytest
from sqlalchemy import func, select

from escrow.context import Core
from escrow.errors import ConfigError
from escrow.models import InboundCallback, JournalEntry, PaymentAttempt, PaymentReceived, Payout, SmsMessage
from escrow.payments import PaymentResult
from escrow.payouts import PayoutResult
from escrow.ports import GatewayError, PaymentStatus
from escrow.reconcile import Reconciler, ReconcileSettings, apply_payment_query, split_attempt
from escrow.reports import ledger_findings
from escrow.service import EscrowService
from escrow.settings import EscrowSettings
from escrow.worker import Worker
from mpesa.routes import CALLBACK_PARSERS
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender

BUYER, SELLER = "0712345678", "0722000111"
NOW = ReconcileSettings(stk_query_after_seconds=0, b2c_retry_after_seconds=0, b2c_status_max_checks=3)


class ScriptedGateway(FakePaymentGateway):
    """query_payment answers from `answers` (checkout id -> PaymentStatus), else pending."""

    def __init__(self):
        super().__init__()
        self.answers: dict[str, PaymentStatus] = {}
        self.queries: list[str] = []

    def query_payment(self, checkout_id):
        self.queries.append(checkout_id)
        return self.answers.get(checkout_id, PaymentStatus(True, None, "The transaction is being processed"))


@pytest.fixture
def world(database, core):
    core = Core(settings=EscrowSettings(stk_delay_seconds=0, b2c_query_after_seconds=0), vault=core.vault,
                paybill="174379")
    gateway, sms = ScriptedGateway(), FakeSmsSender()
    service = EscrowService(database, core)
    worker = Worker(database, core, gateway, sms)
    reconciler = Reconciler(database, core, gateway, NOW, CALLBACK_PARSERS)
    return service, worker, gateway, reconciler, database


def pushed_order(world, price=1_000):
    service, worker, gateway, _, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=price, item="Blue kitenge")
    worker.run_once()
    return order, gateway.pushes[-1]["checkout_id"]


def one(database, model, *where):
    with database.transaction() as session:
        return session.scalar(select(model).where(*where))


def count(database, model, *where):
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def findings(database):
    with database.transaction() as session:
        return [json.loads(body)["kind"] for body in session.scalars(
            select(InboundCallback.body).where(InboundCallback.source == "finding").order_by(InboundCallback.id))]


def assert_ledger_ok(database):
    with database.transaction() as session:
        assert ledger_findings(session)[0] == []


def test_a_pending_query_leaves_the_attempt_sent(world):
    service, _, gateway, reconciler, database = world
    order, checkout = pushed_order(world)
    reconciler.run()
    assert gateway.queries == [checkout]
    assert one(database, PaymentAttempt).status == "sent"
    assert service.order_for(BUYER, order.reference).state == "awaiting_payment"


def test_a_query_success_funds_with_our_receipt_and_a_later_callback_is_a_duplicate(world):
    service, _, gateway, reconciler, database = world
    order, checkout = pushed_order(world)
    gateway.answers[checkout] = PaymentStatus(False, "0", "The service request is processed successfully.")
    report = reconciler.run()
    assert report.counts == {"payments queried (funded)": 1}
    attempt = one(database, PaymentAttempt)
    assert attempt.status == "succeeded" and attempt.receipt == f"QRY-{attempt.id}"
    assert service.order_for(BUYER, order.reference).state == "funded"
    late = PaymentResult(checkout, True, "0", "ok", order.charge, "SGR7ABCDEF")
    assert service.record_payment_result(late) == "duplicate"
    assert one(database, PaymentAttempt).receipt == "SGR7ABCDEF"  # M-Pesa's receipt kept for statements
    assert count(database, PaymentReceived) == 1 and count(database, JournalEntry) == 1
    reconciler.run()
    assert gateway.queries == [checkout]  # settled: never queried again
    assert_ledger_ok(database)


def test_a_query_failure_fails_the_attempt_and_texts_the_buyer(world):
    service, _, gateway, reconciler, database = world
    order, checkout = pushed_order(world)
    gateway.answers[checkout] = PaymentStatus(False, "1037", "DS timeout user cannot be reached")
    reconciler.run()
    attempt = one(database, PaymentAttempt)
    assert (attempt.status, attempt.result_code) == ("failed", "1037")
    assert service.order_for(BUYER, order.reference).state == "awaiting_payment"
    assert one(database, SmsMessage, SmsMessage.kind == "payment_failed") is not None


def test_a_query_never_downgrades_a_confirmed_success(world):
    """reliability.md S3: a funded order stays funded; the contradiction is recorded for review."""
    service, _, _, _, database = world
    order, checkout = pushed_order(world)
    assert service.record_payment_result(PaymentResult(checkout, True, "0", "ok", order.charge, "RCP0000001")) == \
        "funded"
    attempt_id = one(database, PaymentAttempt).id
    with database.transaction() as session:
        outcome = apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "1032", "cancelled"))
    assert outcome == "review"
    assert one(database, PaymentAttempt).status == "succeeded"
    assert service.order_for(BUYER, order.reference).state == "funded"
    assert findings(database) == ["stk-query-contradicts-success"]
    assert_ledger_ok(database)


def test_a_query_success_after_a_recorded_failure_is_flagged_not_funded(world):
    service, _, _, _, database = world
    order, checkout = pushed_order(world)
    service.record_payment_result(PaymentResult(checkout, False, "1032", "Request cancelled by user"))
    with database.transaction() as session:
        outcome = apply_payment_query(session, service.core, one(database, PaymentAttempt).id,
                                      PaymentStatus(False, "0", "ok"))
    assert outcome == "review" and count(database, PaymentReceived) == 0
    assert findings(database) == ["stk-query-success-after-failure"]


def test_a_gateway_error_during_a_query_is_counted_and_retried_next_pass(world):
    _, _, gateway, reconciler, database = world
    pushed_order(world)

    def broken(_checkout_id):
        raise GatewayError("unreachable")
    gateway.query_payment = broken
    assert reconciler.run().counts == {"query errors": 1}
    assert one(database, PaymentAttempt).status == "sent"


def release(service, sms, order):
    code = re.search(r"Delivery code: (\d{6})", " ".join(sms.texts_to(BUYER))).group(1)
    match = service.check_delivery_code(caller=SELLER, code=code)
    assert service.confirm_delivery(caller=SELLER, reference=order.reference, token=match.token).state == "released"


@pytest.fixture
def payout_world(world):
    """A funded, released order whose payout is queued (not yet sent)."""
    service, _, gateway, reconciler, database = world
    sms = FakeSmsSender()
    worker = Worker(database, service.core, gateway, sms)
    world = (service, worker, gateway, reconciler, database)
    order, checkout = pushed_order(world)
    service.record_payment_result(PaymentResult(checkout, True, "0", "ok", order.charge, "RCP0000001"))
    worker.run_once()
    release(service, sms, order)
    return world, order


def test_failed_payouts_with_a_retryable_code_are_retried_under_new_ids_up_to_the_limit(payout_world):
    (service, worker, gateway, reconciler, database), order = payout_world
    worker.run_once()
    for attempt in range(1, 4):
        sent = gateway.payouts[-1]["originator_id"]
        assert split_attempt(sent)[1] == attempt
        assert service.record_payout_result(PayoutResult(sent, None, False, "17", "Rule limited.")) == "failed"
        reconciler.run()
        worker.run_once()
    assert len(gateway.payouts) == 3 and len({p["originator_id"] for p in gateway.payouts}) == 3
    assert findings(database) == ["payout-failed"]
    assert service.order_for(SELLER, order.reference).state == "released"
    reconciler.run()
    assert len(gateway.payouts) == 3 and findings(database) == ["payout-failed"]
    assert_ledger_ok(database)


def test_a_retried_payout_that_succeeds_closes_the_order_with_one_success(payout_world):
    (service, worker, gateway, reconciler, database), order = payout_world
    worker.run_once()
    first = gateway.payouts[-1]["originator_id"]
    service.record_payout_result(PayoutResult(first, None, False, "1", "The balance is insufficient"))
    reconciler.run()
    worker.run_once()
    second = gateway.payouts[-1]["originator_id"]
    assert second == f"{first}-2"
    assert service.record_payout_result(PayoutResult(second, None, True, "0", "ok", "SGP0000002", order.payout)) == \
        "succeeded"
    worker.run_once()
    assert service.order_for(SELLER, order.reference).state == "paid_out"
    assert count(database, Payout, Payout.status == "succeeded") == 1
    reconciler.run()
    assert len(gateway.payouts) == 2 and findings(database) == []
    assert_ledger_ok(database)


def test_a_payout_failure_with_a_final_code_goes_to_review_at_once(payout_world):
    (service, worker, gateway, reconciler, database), order = payout_world
    worker.run_once()
    service.record_payout_result(PayoutResult(gateway.payouts[-1]["originator_id"], None, False, "2001",
                                              "The initiator information is invalid."))
    reconciler.run()
    worker.run_once()
    assert len(gateway.payouts) == 1 and findings(database) == ["payout-failed"]


def test_an_unknown_payout_is_checked_with_back_off_then_flagged_and_never_resent(payout_world):
    (service, worker, gateway, reconciler, database), order = payout_world
    gateway.fail_next = GatewayError("read timeout", ambiguous=True, retryable=False)
    worker.run_once()
    assert one(database, Payout).status == "unknown"
    for _ in range(6):
        reconciler.run()
        worker.run_once()
    assert len(gateway.payout_queries) == NOW.b2c_status_max_checks
    assert gateway.payouts == [] and one(database, Payout).status == "unknown"
    assert findings(database) == ["payout-unknown"]
    result = PayoutResult(one(database, Payout).originator_conversation_id, None, True, "0", "by status query",
                          "SGQ0000001", order.payout)
    assert service.record_payout_result(result) == "succeeded"
    assert_ledger_ok(database)


def test_a_payout_sent_without_a_result_becomes_unknown_and_is_queried(payout_world):
    (service, worker, gateway, reconciler, database), order = payout_world
    worker.run_once()
    assert one(database, Payout).status == "sent"
    assert reconciler.run().counts["payouts without a result"] == 1
    worker.run_once()
    assert one(database, Payout).status == "unknown" and len(gateway.payout_queries) == 1


def test_an_orphan_that_never_matches_is_given_up_with_a_finding(world):
    service, _, _, _, database = world
    body = json.dumps({"Body": {"stkCallback": {"MerchantRequestID": "1", "CheckoutRequestID": "ws_CO_NOBODY",
                                                "ResultCode": 1032, "ResultDesc": "Request cancelled by user"}}})
    callback_id = service.store_callback(source="stk", body=body.encode(), remote_addr="127.0.0.1")
    assert service.record_payment_result(PaymentResult("ws_CO_NOBODY", False, "1032", "x"), callback_id) == "orphan"
    keep = Reconciler(database, service.core, world[2], NOW, CALLBACK_PARSERS)
    assert keep.run().counts == {}
    give_up = Reconciler(database, service.core, world[2], ReconcileSettings(orphan_retry_hours=0), CALLBACK_PARSERS)
    assert give_up.run().counts == {"orphans given up": 1}
    assert one(database, InboundCallback, InboundCallback.id == callback_id).status == "unmatched"
    assert findings(database) == ["orphan"]


def test_settings_are_read_and_checked():
    settings = ReconcileSettings.from_mapping({"RECONCILE_EVERY_SECONDS": "10", "STK_QUERY_AFTER_SECONDS": "60",
                                               "B2C_RETRY_CODES": "1, 17"})
    assert (settings.every_seconds, settings.stk_query_after_seconds) == (10, 60)
    assert settings.b2c_retry_codes == {"1", "17"}
    assert ReconcileSettings.from_mapping({}).stk_query_after_seconds == 180
    with pytest.raises(ConfigError):
        ReconcileSettings.from_mapping({"B2C_MAX_ATTEMPTS": "three"})


def test_a_late_callback_disagreeing_with_a_query_funding_is_flagged(world):
    service, _, gateway, reconciler, database = world
    order, checkout = pushed_order(world)
    gateway.answers[checkout] = PaymentStatus(False, "0", "ok")
    reconciler.run()
    late = PaymentResult(checkout, True, "0", "ok", order.charge - 1, "SGR7ABCDEG")
    assert service.record_payment_result(late) == "duplicate"
    assert findings(database) == ["stk-callback-amount-after-query"]
    assert count(database, PaymentReceived) == 1
    assert_ledger_ok(database)
