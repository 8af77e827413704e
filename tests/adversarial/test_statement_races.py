"""The statement pass and the reconciler's STK query settle the same payment at the same moment.

The query funds the order as QRY-<attempt>; the statement line is M-Pesa's record of that same
payment. Whichever commits first, the line must be matched to that payment: it is not new money
(posted, it found the order already funded and sent the payment back by B2C: paid twice)."""
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from escrow.db import db_now
from escrow.models import PaymentAttempt, PaymentReceived, Payout
from escrow.ports import PaymentStatus
from escrow.reconcile import apply_payment_query
from escrow.statement.match import apply_line
from escrow.statement.runs import StatementEntry, start_run
from tests.adversarial.conftest import books_ok, needs_postgres
from tests.integration.test_escrow_core import BUYER, SELLER


def test_a_statement_line_read_while_a_query_funds_its_push_is_matched_not_returned(world, database):
    needs_postgres(database)
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio")
    worker.run_once()
    with database.transaction() as session:
        attempt_id = session.scalar(select(PaymentAttempt.id))
    outcome = {}

    def statement_pass():
        with database.transaction() as session:
            run_id = start_run(session, shortcode="174379", window_start=db_now(session) - timedelta(hours=1),
                               window_end=db_now(session))
            outcome["line"] = apply_line(session, service.core, StatementEntry(
                shortcode="174379", receipt="SL1REAL009", at=db_now(session) + timedelta(seconds=1),
                kind="CustomerPayBillOnline", amount=order.charge, account=order.reference), run_id)

    with database.transaction() as session:   # the reconciler's query funds it, not yet committed
        assert apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "0", "paid")) == "funded"
        other = threading.Thread(target=statement_pass)
        other.start()
        time.sleep(0.5)                          # the statement pass reads the push while it is still open
    other.join(20)
    assert outcome["line"] == "matched"
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PaymentReceived)) == 1
        assert session.scalar(select(func.count()).select_from(Payout)) == 0
    books_ok(database)
