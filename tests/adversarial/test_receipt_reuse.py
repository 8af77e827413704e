"""One M-Pesa receipt is one payment, whichever way we learnt of it.

A payment funded on an STK query's word is recorded under a receipt we mint (QRY-<attempt>); M-Pesa's
own receipt is noted on the attempt when its late callback (or the statement) names it. The buyer
knows that receipt from their M-Pesa SMS: a forged paybill confirmation quoting it, with another order
as the account, is confirmed by Transaction Status (the receipt is real, Completed, the same amount)
and must not fund a second order from one payment. Until a late callback or the statement names that
receipt nothing here knows it: a confirmed paybill payment that could be it waits for the statement,
and so does an STK query's "paid" that a confirmed paybill payment could have quoted."""
import json

from sqlalchemy import func, select

from escrow.confirmation import MoneyInChecks, PaybillVerdict
from escrow.models import PaymentAttempt, PaymentReceived
from escrow.ports import PaymentStatus
from escrow.payments import PaymentResult
from escrow.paybill import PaybillPayment
from escrow.reconcile import apply_payment_query
from mpesa.c2b_routes import paybill_payment_from
from tests.adversarial.conftest import books_ok, needs_postgres, race
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


def test_a_paybill_confirmation_quoting_the_unnamed_receipt_of_a_query_funded_payment_funds_nothing(world, database):
    """Nothing here knows M-Pesa's receipt of a payment funded on an STK query's word until the statement
    names it; a confirmed paybill payment of the same amount could be it, so it waits for the statement."""
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


# --- the statement settles what Transaction Status cannot: which order a receipt paid -------------

SHORTCODE = "174379"


class OneShortcode:
    """The statement source of a paybill that takes STK and paybill payments; lines given by the test."""

    def statement_shortcodes(self):
        return {SHORTCODE: ("stk", "paybill")}

    def fetch_statement(self, *, shortcode, start, end):
        raise AssertionError("the tests give the lines")


def statement_pass(database, core, *lines, hours=2):
    """One complete statement run over the last `hours` showing these (receipt, account, amount, kind) lines."""
    from datetime import timedelta

    from escrow.db import db_now
    from escrow.statement.passes import StatementReconciler, StatementSettings
    from escrow.statement.runs import StatementEntry
    with database.transaction() as session:
        now = db_now(session)
    entries = [StatementEntry(shortcode=SHORTCODE, receipt=receipt, at=now, kind=kind,
                              amount=amount, account=account) for receipt, account, amount, kind in lines]
    reconciler = StatementReconciler(database, core, OneShortcode(), StatementSettings())
    return reconciler.run_window(SHORTCODE, ("stk", "paybill"), now - timedelta(hours=hours), now, entries=entries)


def callback_status(database, callback_id) -> str:
    from escrow.models import InboundCallback
    with database.transaction() as session:
        return session.scalar(select(InboundCallback.status).where(InboundCallback.id == callback_id))


def open_kinds(database) -> list[str]:
    from escrow.findings import list_findings
    with database.transaction() as session:
        return [finding["kind"] for finding in list_findings(session)]


def attempt_of(database, order):
    from escrow.models import Order
    with database.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == order.reference))
        attempt = session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_id == order_id))
        session.expunge(attempt)
        return attempt


def pay_by_passes(database, core, order, pushed_hours_ago=0):
    """The order's pay-by time passes (its pushes made that long ago), and the timers run."""
    from datetime import timedelta

    from sqlalchemy import update

    from escrow.db import db_now
    from escrow.models import Order
    from escrow.timers import run_timers
    with database.transaction() as session:
        now = db_now(session)
        order_id = session.scalar(select(Order.id).where(Order.reference == order.reference))
        session.execute(update(Order).where(Order.id == order_id).values(pay_by=now - timedelta(minutes=1)))
        if pushed_hours_ago:
            session.execute(update(PaymentAttempt).where(PaymentAttempt.order_id == order_id)
                            .values(created_at=now - timedelta(hours=pushed_hours_ago)))
    run_timers(database, core)


def pushed_order(world):
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    worker.run_once()
    return order


def confirmed_by_transaction_status(service, database, order, trans_id):
    """A paybill confirmation naming `order`, held, then 'Completed' for its TransID and amount."""
    checks = MoneyInChecks(database, service.core, RecordingGateway(), paybill_payment_from, our_shortcode=SHORTCODE)
    body = {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20261202101010",
            "TransAmount": f"{order.charge}.00", "BusinessShortCode": SHORTCODE,
            "BillRefNumber": order.reference, "MSISDN": "2547 ***** 678", "FirstName": "JOHN"}
    callback_id = service.store_callback(source="c2b_confirmation", body=json.dumps(body).encode(),
                                         remote_addr="127.0.0.1")
    assert checks.hold_paybill_payment(paybill_payment_from(body), callback_id) == "held"
    outcome = checks.record_paybill_verdict(callback_id, PaybillVerdict("0", "ok", trans_id, "Completed",
                                                                         order.charge))
    return outcome, callback_id, checks


def test_a_forged_paybill_confirmation_held_for_the_statement_is_settled_as_the_query_funded_payment(world, database):
    """Direction 1, to the end: the statement's line for the real receipt names order A's account, is
    matched to A's query-funded payment, and the held confirmation for B is settled as a duplicate."""
    service, worker, gateway, _ = world
    order_a = pushed_order(world)
    with database.transaction() as session:   # funded on the query's word; M-Pesa's callback never came
        attempt_id = session.scalar(select(PaymentAttempt.id))
        assert apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "0", "paid")) == "funded"
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    outcome, callback_id, checks = confirmed_by_transaction_status(service, database, order_b, REAL_RECEIPT)
    assert outcome == "held for the statement" and callback_status(database, callback_id) == "await_stmt"
    assert "paybill-held-for-statement" in open_kinds(database)
    assert checks.ask_about_paybill_payment(callback_id) == "settled"     # Transaction Status is not asked again
    statement_pass(database, service.core, (REAL_RECEIPT, order_a.reference, order_a.charge, "CustomerPayBillOnline"))
    assert callback_status(database, callback_id) == "duplicate"
    assert attempt_of(database, order_a).receipt == REAL_RECEIPT
    assert service.order_for(BUYER, order_b.reference).state == "awaiting_payment"
    assert payments_of(database) == 1 and "paybill-held-for-statement" not in open_kinds(database)
    books_ok(database)


def test_an_honest_paybill_payment_of_the_same_amount_is_funded_once_the_statement_names_it(world, database):
    service, worker, gateway, _ = world
    order_a = pushed_order(world)
    with database.transaction() as session:
        attempt_id = session.scalar(select(PaymentAttempt.id))
        assert apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "0", "paid")) == "funded"
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    outcome, callback_id, _ = confirmed_by_transaction_status(service, database, order_b, "SL12HONEST")
    assert outcome == "held for the statement"      # it could be A's payment quoted again: the statement says
    pay_by_passes(database, service.core, order_b)
    assert service.order_for(BUYER, order_b.reference).state == "checking_payment"   # not expired: it waits
    statement_pass(database, service.core, (REAL_RECEIPT, order_a.reference, order_a.charge, "CustomerPayBillOnline"),
                   ("SL12HONEST", order_b.reference.lower(), order_b.charge, "Pay Bill"))
    assert service.order_for(BUYER, order_b.reference).state == "funded"
    assert callback_status(database, callback_id) == "duplicate"
    assert payments_of(database) == 2
    books_ok(database)


def test_a_confirmation_held_for_the_statement_that_never_shows_its_receipt_is_contradicted(world, database):
    service, worker, gateway, _ = world
    pushed_order(world)
    with database.transaction() as session:
        attempt_id = session.scalar(select(PaymentAttempt.id))
        assert apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "0", "paid")) == "funded"
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    _, callback_id, _ = confirmed_by_transaction_status(service, database, order_b, "SL12NOWHERE")
    statement_pass(database, service.core)          # covers the time: no such receipt
    assert callback_status(database, callback_id) == "contradicted"
    assert "paybill-contradicted" in open_kinds(database)
    assert service.order_for(BUYER, order_b.reference).state == "awaiting_payment"
    assert payments_of(database) == 1
    books_ok(database)


def test_a_query_saying_paid_does_not_fund_when_a_paybill_payment_may_have_quoted_its_receipt(world, database):
    """Direction 2, the mirror: the forged confirmation quoting A's real receipt is confirmed and funds B
    first; then A's callback is lost and the STK query says A's push was paid. Funding A too would be one
    payment for two orders: A waits for the statement, whose line for the receipt names A's account."""
    service, worker, gateway, _ = world
    order_a = pushed_order(world)
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    outcome, _, _ = confirmed_by_transaction_status(service, database, order_b, REAL_RECEIPT)
    assert outcome == "funded"                      # nothing yet says the receipt is A's
    attempt = attempt_of(database, order_a)
    with database.transaction() as session:
        assert apply_payment_query(session, service.core, attempt.id, PaymentStatus(False, "0", "paid")) == "held"
    assert attempt_of(database, order_a).status in ("sent", "unknown")
    assert service.order_for(BUYER, order_a.reference).state == "awaiting_payment"
    assert "stk-paid-held-for-statement" in open_kinds(database)
    statement_pass(database, service.core, (REAL_RECEIPT, order_a.reference, order_a.charge, "CustomerPayBillOnline"))
    assert "statement-account" in open_kinds(database)      # the receipt paid A's account, our books say B
    with database.transaction() as session:                  # the query asks again: still not funded
        assert apply_payment_query(session, service.core, attempt.id, PaymentStatus(False, "0", "paid")) == "held"
    assert service.order_for(BUYER, order_a.reference).state == "awaiting_payment"
    pay_by_passes(database, service.core, order_a, pushed_hours_ago=3)
    statement_pass(database, service.core, hours=5)          # covers A's push and the hour after it
    pay_by_passes(database, service.core, order_a, pushed_hours_ago=3)
    assert service.order_for(BUYER, order_a.reference).state == "checking_payment"   # paid: never expired as unpaid
    assert attempt_of(database, order_a).status in ("sent", "unknown")
    assert payments_of(database) == 1
    books_ok(database)


def test_a_query_held_for_an_honest_paybill_payment_is_funded_by_the_statement_with_its_real_receipt(world, database):
    service, worker, gateway, _ = world
    order_a = pushed_order(world)
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    assert confirmed_by_transaction_status(service, database, order_b, "SL12HONEST")[0] == "funded"
    attempt = attempt_of(database, order_a)
    with database.transaction() as session:
        assert apply_payment_query(session, service.core, attempt.id, PaymentStatus(False, "0", "paid")) == "held"
    statement_pass(database, service.core, (REAL_RECEIPT, order_a.reference, order_a.charge, "CustomerPayBillOnline"),
                   ("SL12HONEST", order_b.reference, order_b.charge, "Pay Bill"))
    assert service.order_for(BUYER, order_a.reference).state == "funded"
    assert attempt_of(database, order_a).receipt == REAL_RECEIPT
    assert not {"statement-account", "stk-paid-held-for-statement"} & set(open_kinds(database))
    assert payments_of(database) == 2
    books_ok(database)


def test_a_confirmation_held_for_the_statement_is_listed_for_review_and_warned_of_when_the_statement_lags(world,
                                                                                                         database):
    from datetime import timedelta

    from sqlalchemy import update

    from escrow.anomalies import ledger_anomalies
    from escrow.models import InboundCallback
    from escrow.reports import CALLBACKS_FOR_REVIEW, callback_list_report
    service, worker, gateway, _ = world
    pushed_order(world)
    with database.transaction() as session:
        attempt_id = session.scalar(select(PaymentAttempt.id))
        assert apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "0", "paid")) == "funded"
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    _, callback_id, _ = confirmed_by_transaction_status(service, database, order_b, REAL_RECEIPT)
    with database.transaction() as session:     # `flask callbacks list --review`
        listed = callback_list_report(session, statuses=CALLBACKS_FOR_REVIEW)
        assert any(line.startswith(f"#{callback_id} ") and "await_stmt" in line and "held for the statement" in line
                   for line in listed)
        assert not [w for w in ledger_anomalies(session)[1] if "held for the statement" in w]   # just held: fine
        session.execute(update(InboundCallback).where(InboundCallback.id == callback_id)
                        .values(received_at=InboundCallback.received_at - timedelta(hours=2)))
    with database.transaction() as session:     # `flask ledger check`: the statement is not settling it
        assert [w for w in ledger_anomalies(session)[1] if "1 paybill confirmation(s) held for the statement" in w]


def test_a_query_and_a_confirmation_quoting_its_receipt_at_the_same_moment_fund_one_order(world, database):
    """Each side checks for the other and then funds: at the same moment, both must not find nothing."""
    needs_postgres(database)
    service, worker, gateway, _ = world
    order_a = pushed_order(world)
    order_b = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    checks = MoneyInChecks(database, service.core, RecordingGateway(), paybill_payment_from, our_shortcode=SHORTCODE)
    payment, callback_id = forged_confirmation(service, order_b)
    assert checks.hold_paybill_payment(payment, callback_id) == "held"
    attempt = attempt_of(database, order_a)

    def query_says_paid():
        with database.transaction() as session:
            return apply_payment_query(session, service.core, attempt.id, PaymentStatus(False, "0", "paid"))

    def status_confirms():
        return checks.record_paybill_verdict(callback_id, PaybillVerdict("0", "ok", REAL_RECEIPT, "Completed",
                                                                         order_b.charge))

    outcomes = race([query_says_paid, status_confirms])
    assert sorted(outcomes) in (["funded", "held for the statement"], ["funded", "held"]), outcomes
    assert payments_of(database) == 1
    books_ok(database)
