"""One M-Pesa receipt is one payment, whichever way we learnt of it.

A payment funded on an STK query's word is recorded under a receipt we mint (QRY-<attempt>); M-Pesa's
own receipt is noted on the attempt when its late callback (or the statement) names it. The buyer
knows that receipt from their M-Pesa SMS: a forged paybill confirmation quoting it, with another order
as the account, is confirmed by Transaction Status (the receipt is real, Completed, the same amount)
and must not fund a second order from one payment."""
import json

import pytest
from sqlalchemy import func, select

from escrow.confirmation import MoneyInChecks, PaybillVerdict
from escrow.models import PaymentAttempt, PaymentReceived
from escrow.ports import PaymentStatus
from escrow.payments import PaymentResult
from escrow.paybill import PaybillPayment
from escrow.reconcile import apply_payment_query
from mpesa.c2b_routes import paybill_payment_from
from tests.adversarial.conftest import books_ok
from tests.integration.test_escrow_core import BUYER, SELLER

REAL_RECEIPT = "SL12REAL01"


class RecordingGateway:
    def __init__(self):
        self.queries = []

    def query_paybill_payment(self, *, trans_id, reply_to):
        self.queries.append(trans_id)


def order_funded_by_query_then_its_late_callback(world, database):
    """Order A: funded by an STK query (QRY-), then M-Pesa's late callback names the real receipt."""
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    worker.run_once()
    checkout_id = gateway.pushes[-1]["checkout_id"]
    with database.transaction() as session:
        attempt_id = session.scalar(select(PaymentAttempt.id).where(PaymentAttempt.checkout_request_id == checkout_id))
        assert apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "0", "paid")) == "funded"
    late = PaymentResult(checkout_id, True, "0", "ok", order.charge, REAL_RECEIPT)
    assert service.record_payment_result(late) == "duplicate"
    return order


def forged_confirmation(service, order_b) -> tuple[PaybillPayment, int]:
    body = {"TransactionType": "Pay Bill", "TransID": REAL_RECEIPT, "TransTime": "20261202101010",
            "TransAmount": f"{order_b.charge}.00", "BusinessShortCode": "174379",
            "BillRefNumber": order_b.reference, "MSISDN": "2547 ***** 678", "FirstName": "JOHN"}
    callback_id = service.store_callback(source="c2b_confirmation", body=json.dumps(body).encode(),
                                         remote_addr="127.0.0.1")
    return paybill_payment_from(body), callback_id


def payments_of(database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(PaymentReceived))


def test_a_paybill_confirmation_quoting_a_query_funded_payments_receipt_funds_nothing(world, database):
    service = world[0]
    order_funded_by_query_then_its_late_callback(world, database)
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    checks = MoneyInChecks(database, service.core, RecordingGateway(), paybill_payment_from, our_shortcode="174379")
    payment, callback_id = forged_confirmation(service, order_b)
    held = checks.hold_paybill_payment(payment, callback_id)
    if held == "held":   # M-Pesa confirms the receipt: it is real, Completed, for that amount
        checks.record_paybill_verdict(callback_id, PaybillVerdict("0", "ok", REAL_RECEIPT, "Completed",
                                                                  order_b.charge))
    assert service.order_for(BUYER, order_b.reference).state == "awaiting_payment"
    assert payments_of(database) == 1
    books_ok(database)


def test_without_confirmation_too_the_receipt_of_a_query_funded_payment_is_a_duplicate(world, database):
    """The simulator mode applies confirmations at once: the same one-receipt-one-payment rule holds."""
    service = world[0]
    order_funded_by_query_then_its_late_callback(world, database)
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    payment, callback_id = forged_confirmation(service, order_b)
    assert service.record_paybill_payment(payment, callback_id, "174379") == "duplicate"
    unknown_account = PaybillPayment(trans_id=REAL_RECEIPT, amount=1_000, account="NOSUCH", shortcode="174379")
    assert service.record_paybill_payment(unknown_account, None, "174379") == "duplicate"
    assert payments_of(database) == 1
    books_ok(database)


@pytest.mark.xfail(strict=True, reason="open: until a late callback or the statement names M-Pesa's receipt of a "
                                        "payment funded by STK query, nothing here knows it; Transaction Status "
                                        "confirms the receipt and amount but not the account (see the review report)")
def test_a_paybill_confirmation_quoting_the_unnamed_receipt_of_a_query_funded_payment_funds_nothing(world, database):
    service, worker, gateway, _ = world
    service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    worker.run_once()
    with database.transaction() as session:   # funded on the query's word; M-Pesa's callback never came
        attempt_id = session.scalar(select(PaymentAttempt.id))
        assert apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "0", "paid")) == "funded"
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    checks = MoneyInChecks(database, service.core, RecordingGateway(), paybill_payment_from, our_shortcode="174379")
    payment, callback_id = forged_confirmation(service, order_b)
    assert checks.hold_paybill_payment(payment, callback_id) == "held"
    checks.record_paybill_verdict(callback_id, PaybillVerdict("0", "ok", REAL_RECEIPT, "Completed", order_b.charge))
    assert service.order_for(BUYER, order_b.reference).state == "awaiting_payment"
