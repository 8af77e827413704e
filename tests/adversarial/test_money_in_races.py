"""Money-in races: the same stored callback applied by two claimers (a lease that ran out while its
first worker was still applying it), a journal replayed by two workers while the live copy of the same
callback arrives, an STK query's 'paid' against the real callback, two confirmers of one held success,
the pay-by timer against money arriving, and two pushes of one order paid at once. On real PostgreSQL;
each ends with the books: every receipt counted once, an order funded at most once, money held never
more than money received, nothing lost (every stored callback ends applied or flagged)."""
import json
import threading

from sqlalchemy import func, select, text, update

from escrow import ledger
from escrow.callback_journal import CallbackJournal
from escrow.db import Database
from escrow.intake import CallbackIntake
from escrow.models import InboundCallback, Order, PaymentAttempt, PaymentReceived
from escrow.paybill import PaybillPayment
from escrow.payments import PaymentResult
from escrow.ports import PaymentStatus
from escrow.reconcile import Reconciler, ReconcileReport, ReconcileSettings
from escrow.service import EscrowService
from escrow.timers import run_timers
from mpesa.routes import CALLBACK_PARSERS, _processor, stk_payment_result
from tests.adversarial.conftest import books_ok, needs_postgres, race
from tests.adversarial.test_settlement_races import PauseBefore, cash_for
from tests.integration.test_escrow_core import BUYER, SELLER

NOW = ReconcileSettings(stk_query_after_seconds=0, b2c_retry_after_seconds=0, b2c_status_max_checks=3)
DONE = ("applied", "duplicate", "refunding", "return_held", "suspense", "unconfirmed", "rejected")


class PaidGateway:
    """The fake gateway, whose STK query says 'paid' for the checkout ids in `paid`."""

    def __init__(self, gateway):
        self.inner, self.paid = gateway, set()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def query_payment(self, checkout_id):
        if checkout_id in self.paid:
            return PaymentStatus(pending=False, result_code="0", description="The service request is processed")
        return self.inner.query_payment(checkout_id)


def stk_body(checkout_id: str, amount: int, receipt: str) -> bytes:
    return json.dumps({"Body": {"stkCallback": {
        "MerchantRequestID": "m-1", "CheckoutRequestID": checkout_id, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": amount},
                                      {"Name": "MpesaReceiptNumber", "Value": receipt},
                                      {"Name": "PhoneNumber", "Value": 254711000000}]}}}}).encode()


def stk_intake(db, core, journal=None, confirm=None) -> CallbackIntake:
    """An intake on `db` with the real STK processor (mpesa/routes.py), as the app wires it."""
    service = EscrowService(db, core, journal)
    service.intake.register("stk", _processor(service, "stk", stk_payment_result, service.record_payment_result,
                                              confirm))
    return service.intake


def pushed_order(world, price=1_000):
    """An order whose STK push Daraja accepted: (order view, attempt id, checkout id)."""
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=price, item="Radio")
    worker.run_once()
    checkout_id = gateway.pushes[-1]["checkout_id"]
    with service.db.transaction() as session:
        attempt_id = session.scalar(select(PaymentAttempt.id).where(PaymentAttempt.checkout_request_id == checkout_id))
    return order, attempt_id, checkout_id


def money_of(database, reference):
    """(state, held, owed back, suspense, receipts recorded, money in, money out) of one order."""
    with database.transaction() as session:
        order_id, state = session.execute(select(Order.id, Order.state).where(Order.reference == reference)).one()
        held = ledger.held_for(session, order_id)
        owed_back = -ledger.balance(session, ledger.REFUNDS_PAYABLE, order_id)
        suspense = -ledger.balance(session, ledger.SUSPENSE, order_id)
        receipts = session.scalars(select(PaymentReceived.receipt).where(PaymentReceived.order_id == order_id)).all()
    money_in, money_out = cash_for(database, reference)
    return state, held, owed_back, suspense, sorted(receipts), money_in, money_out


def funded_once(database, order, receipts: int = 1, label=""):
    state, held, owed_back, suspense, got, money_in, money_out = money_of(database, order.reference)
    assert held == order.charge, (label, state, held, got)
    assert state == "funded", (label, state)
    assert len(got) == receipts and money_in == receipts * order.charge, (label, got, money_in)
    assert held + owed_back + suspense == money_in and money_out == 0, (label, held, owed_back, suspense, money_in)


def callbacks_settled(database, source="stk"):
    with database.transaction() as session:
        rows = session.execute(select(InboundCallback.id, InboundCallback.status, InboundCallback.note)
                               .where(InboundCallback.source == source)).all()
    stuck = [r for r in rows if r.status not in DONE]
    assert stuck == [], f"stored callbacks neither applied nor flagged: {stuck}"
    return rows


def _expire_lease(database, callback_id):
    with database.transaction() as session:
        session.execute(text("UPDATE inbound_callbacks SET leased_until = now() - interval '1 second', "
                             "received_at = now() - interval '5 minutes' WHERE id = :id"), {"id": callback_id})


# --- 1. a lease that ends while the first worker is still applying the stored callback ------------
def _lease_race(world, database, database_url, pause_on):
    needs_postgres(database)
    service, _, _, _ = world
    order, _, checkout_id = pushed_order(world)
    main = stk_intake(database, service.core)
    main.defer("stk")
    callback_id = main.keep(source="stk", body=stk_body(checkout_id, order.charge, "RLEASE0001"),
                            remote_addr="196.201.214.200")
    worker_db = Database(database_url)
    try:
        slow = stk_intake(worker_db, service.core)
        pause = PauseBefore(worker_db.engine, pause_on)
        outcome = {}
        first = threading.Thread(target=lambda: outcome.setdefault("worker", slow.apply_waiting()))
        first.start()
        assert pause.reached.wait(20), "the worker never reached the paused statement"
        _expire_lease(database, callback_id)             # its claimer looks dead: the reconcile pass retries it
        second = threading.Thread(target=lambda: outcome.setdefault("reconcile", main.process_received()))
        second.start()
        second.join(3)   # either done, or waiting for the paused worker's row lock
        pause.go.set()
        first.join(30)
        second.join(30)
        assert not first.is_alive() and not second.is_alive()
    finally:
        worker_db.dispose()
    funded_once(database, order, label=outcome)
    callbacks_settled(database)
    books_ok(database)
    return outcome


def test_a_lease_ending_before_the_worker_claims_the_attempt_funds_once(world, database, database_url):
    """Worker A claimed the stored success and stops before its UPDATE of the attempt; its lease ends,
    the reconcile pass claims the row and applies it; then A goes on."""
    outcome = _lease_race(world, database, database_url, lambda sql, params: sql.lstrip().upper().startswith(
        "UPDATE PAYMENT_ATTEMPTS"))
    assert outcome["reconcile"] == {"funded": 1} and outcome["worker"] == 1, outcome


def test_a_lease_ending_after_the_worker_claimed_the_attempt_funds_once(world, database, database_url):
    """Worker A has marked the attempt succeeded (uncommitted) and stops before recording the receipt;
    the reconcile pass takes the row over and waits on A's lock, then sees a duplicate."""
    outcome = _lease_race(world, database, database_url, lambda sql, params: sql.lstrip().upper().startswith(
        "INSERT INTO PAYMENTS_RECEIVED"))
    assert outcome["worker"] == 1, outcome


# --- 2. a journal replayed by two workers while the same callback arrives live -------------------
def test_a_journal_replayed_by_two_workers_while_the_live_copy_arrives_funds_once(world, database, database_url,
                                                                                 tmp_path):
    needs_postgres(database)
    service, _, _, _ = world
    dbs = [Database(database_url) for _ in range(3)]
    try:
        for round_ in range(10):
            journal = CallbackJournal(tmp_path / f"journal{round_}")
            order, _, checkout_id = pushed_order(world, price=1_000 + round_)
            body = stk_body(checkout_id, order.charge, f"RJRN{round_:06d}")
            writer = stk_intake(database, service.core, journal)
            for _ in range(2):   # M-Pesa resent it while the database was away: two journal records
                writer.journal.append(writer.journal_record(source="stk", body=body, remote_addr="196.201.214.200"))
            a, b = (stk_intake(db, service.core, CallbackJournal(journal.directory)) for db in dbs[:2])
            live = stk_intake(dbs[2], service.core)

            def live_copy():
                callback_id = live.keep(source="stk", body=body, remote_addr="196.201.214.200")
                return live.process(callback_id, "stk", body.decode())
            outcomes = race([a.replay_journal, b.replay_journal, live_copy])
            assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
            assert outcomes[0] + outcomes[1] == 2, outcomes     # each record stored once
            assert journal.pending_files() == 0
            funded_once(database, order, label=(round_, outcomes))
        rows = callbacks_settled(database)
        assert len(rows) == 30
    finally:
        for db in dbs:
            db.dispose()
    books_ok(database)


# --- 3. an STK query's 'paid' against the real callback -------------------------------------------
def _query_vs_callback(world, database, database_url, paused: str):
    needs_postgres(database)
    service, _, gateway, _ = world
    order, attempt_id, checkout_id = pushed_order(world)
    paid = PaidGateway(gateway)
    paid.paid.add(checkout_id)
    callback = PaymentResult(checkout_id, True, "0", "ok", order.charge, "RQVC000001")
    other_db = Database(database_url)
    try:
        other = EscrowService(other_db, service.core)
        reconciler = Reconciler(other_db, service.core, paid, NOW, CALLBACK_PARSERS)
        slow, fast = ((lambda: reconciler.query_stale_payments(ReconcileReport()),
                       lambda: service.record_payment_result(callback)) if paused == "query" else
                      (lambda: other.record_payment_result(callback),
                       lambda: Reconciler(database, service.core, paid, NOW, CALLBACK_PARSERS)
                       .query_stale_payments(ReconcileReport())))
        pause = PauseBefore(other_db.engine, lambda sql, params: sql.lstrip().upper().startswith(
            "UPDATE PAYMENT_ATTEMPTS"))
        out = {}
        thread = threading.Thread(target=lambda: out.setdefault("slow", slow()))
        thread.start()
        assert pause.reached.wait(20)
        out["fast"] = fast()
        pause.go.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        other_db.dispose()
    funded_once(database, order, label=out)
    with database.transaction() as session:
        attempt = session.get(PaymentAttempt, attempt_id)
        assert attempt.status == "succeeded"
        # M-Pesa's own receipt is known on the attempt (for the statement), whichever side won
        assert attempt.receipt == "RQVC000001", attempt.receipt
    books_ok(database)


def test_a_query_paused_before_funding_while_the_callback_funds_counts_the_payment_once(world, database,
                                                                                      database_url):
    _query_vs_callback(world, database, database_url, "query")


def test_a_callback_paused_before_funding_while_the_query_funds_counts_the_payment_once(world, database,
                                                                                      database_url):
    _query_vs_callback(world, database, database_url, "callback")


def test_queries_callbacks_and_stored_retries_racing_fund_each_order_once(world, database):
    """No pause: the callback inline, the same callback stored and retried by the reconcile pass, and an
    STK query saying paid, all at once, 20 times."""
    needs_postgres(database)
    service, _, gateway, _ = world
    paid = PaidGateway(gateway)
    reconciler = Reconciler(database, service.core, paid, NOW, CALLBACK_PARSERS)
    intake = stk_intake(database, service.core)
    for round_ in range(20):
        order, _, checkout_id = pushed_order(world, price=2_000 + round_)
        paid.paid.add(checkout_id)
        body = stk_body(checkout_id, order.charge, f"RQR{round_:07d}")
        stored = intake.keep(source="stk", body=body, remote_addr="196.201.214.200")   # born leased (inline)
        _expire_lease(database, stored)                                               # its web worker died
        outcomes = race([lambda: reconciler.query_stale_payments(ReconcileReport()),
                         intake.process_received,
                         lambda: intake.process(intake.keep(source="stk", body=body, remote_addr="196.201.214.200"),
                                                "stk", body.decode())])
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        funded_once(database, order, label=(round_, outcomes))
    callbacks_settled(database)
    books_ok(database)


# --- 4. a held success confirmed by the worker and by the reconcile pass at once ------------------
class _Confirm:
    def requires(self, amount):
        return True


def test_a_held_success_confirmed_twice_at_once_and_queried_funds_once(world, database):
    needs_postgres(database)
    service, _, gateway, _ = world
    paid = PaidGateway(gateway)
    reconciler = Reconciler(database, service.core, paid, NOW, CALLBACK_PARSERS)
    intake = stk_intake(database, service.core, confirm=_Confirm())
    for round_ in range(15):
        order, _, checkout_id = pushed_order(world, price=3_000 + round_)
        body = stk_body(checkout_id, order.charge, f"RHLD{round_:06d}")
        held = intake.keep(source="stk", body=body, remote_addr="196.201.214.200")
        assert intake.process(held, "stk", body.decode()) == "unconfirmed"
        paid.paid.add(checkout_id)
        outcomes = race([lambda: reconciler.confirm_held_callback(held),
                         lambda: reconciler.confirm_held_callbacks(ReconcileReport()),
                         lambda: reconciler.query_stale_payments(ReconcileReport())])
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        funded_once(database, order, label=(round_, outcomes))
    callbacks_settled(database)
    books_ok(database)


# --- 5. the pay-by timer against money arriving ---------------------------------------------------
def _past_pay_by(database, reference):
    with database.transaction() as session:
        session.execute(update(Order).where(Order.reference == reference)
                        .values(pay_by=func.now() - text("interval '1 minute'")))


def test_expiry_racing_a_paybill_payment_and_the_stk_callback_loses_no_money(world, database):
    """The pay-by time has passed. The timer, a paybill payment and (every other round) the STK callback
    of the open push, at once: whatever wins, every shilling received is held for the order (once) or
    owed back, and an expired order holds nothing."""
    needs_postgres(database)
    service, _, gateway, _ = world
    for round_ in range(20):
        order, _, checkout_id = pushed_order(world, price=4_000 + round_)
        if round_ % 2 == 0:    # the push failed: nothing in doubt, the order can really expire
            assert service.record_payment_result(PaymentResult(checkout_id, False, "1032", "cancelled")) == "failed"
        _past_pay_by(database, order.reference)
        paybill = PaybillPayment(trans_id=f"RPBX{round_:06d}", amount=order.charge, account=order.reference,
                                 shortcode="174379")
        racers = [lambda: run_timers(service.db, service.core),
                  lambda: CallbackIntake._run(lambda _r, _i: service.record_paybill_payment(paybill), "", 0)]
        payments = 1
        if round_ % 2:
            stk = PaymentResult(checkout_id, True, "0", "ok", order.charge, f"RSTX{round_:06d}")
            racers.append(lambda: CallbackIntake._run(lambda _r, _i: service.record_payment_result(stk), "", 0))
            payments = 2
        outcomes = race(racers)
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        run_timers(service.db, service.core)
        state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
        assert len(receipts) == payments and money_in == payments * order.charge, (round_, receipts, money_in)
        assert held + owed_back + suspense == money_in, (round_, state, held, owed_back, suspense, outcomes)
        assert held == (order.charge if state == "funded" else 0), (round_, state, held, outcomes)
        assert state in ("funded", "expired"), (round_, state, outcomes)
        assert held <= money_in and money_out == 0
        if round_ % 2:   # a push in doubt: the order waited, so the money funds it rather than going back
            assert state == "funded", (round_, state, outcomes)
    books_ok(database)


# --- 6. two pushes of one order paid at once (the pay link pressed twice) ------------------------
def test_two_pushes_of_one_order_paid_at_once_fund_it_once_and_owe_the_other_back(world, database):
    needs_postgres(database)
    service, worker, gateway, _ = world
    paid = PaidGateway(gateway)
    reconciler = Reconciler(database, service.core, paid, NOW, CALLBACK_PARSERS)
    for round_ in range(12):
        order, _, first = pushed_order(world, price=5_000 + round_)
        service.pay_again(BUYER, order.reference)
        worker.run_once()
        second = gateway.pushes[-1]["checkout_id"]
        assert second != first
        paid.paid.add(first)      # the first push is known paid by query only (its callback was lost)
        cb = PaymentResult(second, True, "0", "ok", order.charge, f"RTWO{round_:06d}")
        outcomes = race([lambda: CallbackIntake._run(lambda _r, _i: service.record_payment_result(cb), "", 0),
                         lambda: reconciler.query_stale_payments(ReconcileReport())])
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
        assert state == "funded" and held == order.charge, (round_, state, held, outcomes)
        assert len(receipts) == 2 and money_in == 2 * order.charge, (round_, receipts)
        assert owed_back == order.charge and suspense == 0, (round_, owed_back, suspense, outcomes)
    books_ok(database)


# --- 7. a push whose outbox lease ran out while its worker was still calling Daraja ----------------
class SlowPushGateway:
    """The fake gateway, whose first STK push waits (Daraja slow to answer) until released."""

    def __init__(self, gateway):
        self.inner, self.calling, self.answer, self.first = gateway, threading.Event(), threading.Event(), True

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def request_payment(self, **kwargs):
        if self.first:
            self.first = False
            self.calling.set()
            self.answer.wait(20)
        return self.inner.request_payment(**kwargs)


def test_a_push_retaken_by_a_second_worker_mid_call_can_still_be_settled_when_its_callback_is_lost(
        world, database, database_url):
    """Worker A leased a batch of outbox items; Daraja is slow, so by the time A calls it for this push
    the lease has run out and worker B has taken the item too. B finds the attempt 'sending' (A is in
    the call) and marks it 'unknown' (never pushed twice: right). Daraja then accepts A's push and the
    buyer pays, but the callback is lost. The reconcile pass's STK query must be able to settle it:
    that needs the checkout id Daraja gave A."""
    needs_postgres(database)
    from escrow.payments import send_stk_push
    service, _, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_500, item="Radio")
    with database.transaction() as session:
        attempt_id = session.scalar(select(PaymentAttempt.id).join(Order, Order.id == PaymentAttempt.order_id)
                                    .where(Order.reference == order.reference))
    slow = SlowPushGateway(gateway)
    out = {}
    a = threading.Thread(target=lambda: out.setdefault("A", send_stk_push(database, service.core, slow, attempt_id)))
    a.start()
    assert slow.calling.wait(20), "worker A never called Daraja"
    out["B"] = send_stk_push(database, service.core, gateway, attempt_id)   # the retaken outbox item
    slow.answer.set()
    a.join(30)
    assert not a.is_alive()
    pushed = [p["checkout_id"] for p in gateway.pushes if p["reference"] == order.reference]
    assert len(pushed) == 1, f"pushed twice: {pushed} ({out})"          # the buyer is prompted once
    paid = PaidGateway(gateway)
    paid.paid.add(pushed[0])                                             # the buyer paid; no callback came
    Reconciler(database, service.core, paid, NOW, CALLBACK_PARSERS).query_stale_payments(ReconcileReport())
    with database.transaction() as session:
        attempt = session.get(PaymentAttempt, attempt_id)
        status, checkout = attempt.status, attempt.checkout_request_id
    state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
    assert (state, held, money_in) == ("funded", order.charge, order.charge), (
        f"the buyer paid push {pushed[0]} but the STK query cannot settle it: attempt {attempt_id} is {status!r} "
        f"with checkout id {checkout!r} (workers said {out}); order {state}, held {held}, money in {money_in}")
    books_ok(database)


# --- 8. a wrong amount, the right amount twice, the buyer cancelling and the timer, all at once ------
def test_wrong_and_right_amounts_a_buyer_cancel_and_the_timer_racing_keep_every_shilling(world, database):
    needs_postgres(database)
    service, _, gateway, _ = world
    for round_ in range(15):
        order, _, checkout_id = pushed_order(world, price=6_000 + round_)
        if round_ % 3 == 0:
            _past_pay_by(database, order.reference)
        wrong = PaybillPayment(trans_id=f"RWRG{round_:06d}", amount=order.charge - 100, account=order.reference,
                               shortcode="174379")
        right = PaybillPayment(trans_id=f"RRGT{round_:06d}", amount=order.charge, account=order.reference,
                               shortcode="174379")
        stk = PaymentResult(checkout_id, True, "0", "ok", order.charge, f"RSTW{round_:06d}")

        def cancel():
            try:
                return service.cancel_order(BUYER, order.reference).state
            except Exception as error:  # noqa: BLE001 -- refused: the order moved first
                return f"refused: {type(error).__name__}"
        applied = [lambda p=p: CallbackIntake._run(lambda _r, _i: service.record_paybill_payment(p), "", 0)
                   for p in (wrong, right)]
        outcomes = race(applied + [lambda: CallbackIntake._run(lambda _r, _i: service.record_payment_result(stk),
                                                               "", 0),
                                   cancel, lambda: run_timers(service.db, service.core)])
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
        assert len(receipts) == 3 and money_in == 3 * order.charge - 100, (round_, receipts, money_in)
        assert held + owed_back + suspense == money_in, (round_, state, held, owed_back, suspense, outcomes)
        assert held in (0, order.charge) and held <= money_in and money_out == 0, (round_, held)
        assert (held == order.charge) == (state in ("funded", "under_review")), (round_, state, held, outcomes)
    books_ok(database)


# --- 9. a wrong amount arriving after (or while) the right one funds the order --------------------
def _suspense_explained(database, order, receipt):
    """The wrong amount is kept in suspense, and someone is told: the order waits in needs_review, or a
    finding names the order or the receipt (escrow/anomalies.py's own test of 'explained')."""
    from escrow.anomalies import ledger_anomalies
    with database.transaction() as session:
        _, warnings = ledger_anomalies(session)
    state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
    assert receipt in receipts and held + owed_back + suspense == money_in, (state, receipts, held, suspense)
    unexplained = [w for w in warnings if "suspense" in w and order.reference in w]
    assert unexplained == [], (
        f"order {order.reference} is {state}: KES {suspense:,} of payment {receipt} sits in suspense and no finding "
        f"or review names it, so nobody will ever return it: {unexplained}")


def test_a_wrong_amount_arriving_after_the_order_was_funded_is_held_and_flagged(world, database):
    """Out of order: the STK payment funds the order, then a paybill payment of another amount for the same
    order arrives (the buyer also tried the paybill and mistyped). Kept in suspense, and flagged."""
    needs_postgres(database)
    service, _, _, _ = world
    order, _, checkout_id = pushed_order(world, price=7_000)
    assert service.record_payment_result(PaymentResult(checkout_id, True, "0", "ok", order.charge,
                                                       "RLATE00001")) == "funded"
    wrong = PaybillPayment(trans_id="RLATEW0001", amount=order.charge - 100, account=order.reference,
                           shortcode="174379")
    assert service.record_paybill_payment(wrong) == "suspense"
    _suspense_explained(database, order, "RLATEW0001")
    books_ok(database)


def test_a_wrong_amount_racing_the_right_one_is_held_and_flagged_whichever_wins(world, database):
    needs_postgres(database)
    service, _, _, _ = world
    for round_ in range(15):
        order, _, checkout_id = pushed_order(world, price=7_100 + round_)
        stk = PaymentResult(checkout_id, True, "0", "ok", order.charge, f"RRACE{round_:05d}")
        wrong = PaybillPayment(trans_id=f"RRACEW{round_:04d}", amount=order.charge - 100, account=order.reference,
                               shortcode="174379")
        outcomes = race([lambda: CallbackIntake._run(lambda _r, _i: service.record_payment_result(stk), "", 0),
                         lambda: CallbackIntake._run(lambda _r, _i: service.record_paybill_payment(wrong), "", 0)])
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        _suspense_explained(database, order, wrong.trans_id)
    books_ok(database)
