"""A forged success callback must not choose the receipt a real payment is recorded under.

With MPESA_CONFIRM_WITH_QUERY on, an STK success is held until an STK Push Query confirms that its
checkout was paid. The query says nothing about the receipt: a callback forged by whoever holds the
callback token, for a push the buyer really paid, with a receipt of its own making, was recorded
under that made-up receipt. The statement then showed M-Pesa's real receipt as money nobody
recorded, and posted it like a late confirmation: the order was already funded, so the real
payment was reversed to the payer while the order stayed funded (money paid out twice)."""
import json
from datetime import timedelta

from sqlalchemy import func, select

from escrow.db import db_now
from escrow.models import Payout, PaymentReceived, Reversal
from escrow.ports import PaymentStatus
from escrow.reconcile import Reconciler, ReconcileSettings
from escrow.statement.match import apply_line
from escrow.statement.runs import StatementEntry, start_run
from mpesa.routes import CALLBACK_PARSERS
from tests.adversarial.conftest import books_ok
from tests.integration.test_escrow_core import BUYER, SELLER

NOW = ReconcileSettings(stk_query_after_seconds=0, b2c_retry_after_seconds=0)


def stk_success(checkout_id: str, amount: int, receipt: str) -> bytes:
    return json.dumps({"Body": {"stkCallback": {
        "MerchantRequestID": "m-1", "CheckoutRequestID": checkout_id, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.", "CallbackMetadata": {"Item": [
            {"Name": "Amount", "Value": float(amount)}, {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "TransactionDate", "Value": 20261202101010}, {"Name": "PhoneNumber", "Value": 254712345678}]}}}}
    ).encode()


def count(database, model, *where):
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_forged_receipt_on_a_confirmed_push_does_not_make_the_real_one_new_money(world, database):
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio")
    worker.run_once()
    checkout_id = gateway.pushes[-1]["checkout_id"]
    gateway.query_payment = lambda _checkout: PaymentStatus(False, "0", "paid")   # the buyer did pay
    callback_id = service.store_callback(source="stk", body=stk_success(checkout_id, order.charge, "FORGED0001"),
                                         remote_addr="127.0.0.1")
    service.hold_stk_success(callback_id)
    Reconciler(database, service.core, gateway, NOW, CALLBACK_PARSERS).confirm_held_callback(callback_id)
    assert service.order_for(BUYER, order.reference).state == "funded"

    with database.transaction() as session:   # M-Pesa's statement: the real receipt, for that order
        run_id = start_run(session, shortcode="174379", window_start=db_now(session) - timedelta(hours=1),
                           window_end=db_now(session))
        apply_line(session, service.core, StatementEntry(
            shortcode="174379", receipt="SL1REAL001", at=db_now(session), kind="CustomerPayBillOnline",
            amount=order.charge, account=order.reference), run_id)
    assert count(database, Reversal) == 0 and count(database, Payout, Payout.purpose == "return") == 0
    assert count(database, PaymentReceived) == 1
    books_ok(database)
