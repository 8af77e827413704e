"""Settlement races: interleavings and duplicate or out-of-order deliveries the other adversarial files
do not line up, on real PostgreSQL. Each ends with the books: balanced, nothing paid twice, money out never
more than money in."""
import re
import threading
from datetime import timedelta

from sqlalchemy import event, func, select, update

from escrow import ledger
from escrow.db import Database, db_now
from escrow.intake import CallbackIntake
from escrow.models import Order, OutboxItem, PaymentReceived, Payout, Posting
from escrow.payments import PaymentResult
from escrow.paybill import PaybillPayment
from escrow.ports import GatewayError
from escrow.payouts import PayoutResult, send_transfer
from escrow.reconcile import Reconciler, ReconcileReport, ReconcileSettings
from mpesa.routes import CALLBACK_PARSERS
from tests.adversarial.conftest import books_ok, needs_postgres, race
from tests.integration.test_escrow_core import BUYER, SELLER, funded_order

NOW = ReconcileSettings(stk_query_after_seconds=0, b2c_retry_after_seconds=0, b2c_status_max_checks=3)


def latest_code(sms) -> str:
    return re.findall(r"Delivery code: (\d{6})", " ".join(sms.texts_to(BUYER)))[-1]


def released_order(world):
    """A funded order the buyer has confirmed: its payout is queued."""
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    service.mark_dispatched(SELLER, order.reference)
    match = service.check_delivery_code(caller=BUYER, code=latest_code(sms))
    service.confirm_delivery(caller=BUYER, reference=order.reference, token=match.token)
    return order


def payouts_of(database, reference):
    with database.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == reference))
        return list(session.scalars(select(Payout).where(Payout.order_id == order_id).order_by(Payout.id)))


def cash_for(database, reference) -> tuple[int, int]:
    """(money in, money out) of this order on the ledger's M-Pesa cash accounts."""
    with database.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == reference))
        amounts = session.scalars(select(Posting.amount).where(
            Posting.order_id == order_id,
            (Posting.account == ledger.MPESA_CASH) | Posting.account.like(ledger.CASH_PREFIX + "%"))).all()
    return sum(a for a in amounts if a > 0), -sum(a for a in amounts if a < 0)


class PauseBefore:
    """Hold one thread at the first statement `matches` picks out on this engine, until released:
    the scheduler pausing a worker between two of its statements."""

    def __init__(self, engine, matches):
        self.reached, self.go, self.matches, self.fired = threading.Event(), threading.Event(), matches, False
        event.listen(engine, "before_cursor_execute", self._hook)

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        if not self.fired and self.matches(statement, parameters):
            self.fired = True
            self.reached.set()
            self.go.wait(20)


# --- 1. a late success for a failed payout while its retry is being sent ---------------------
def test_a_late_success_cancelling_a_retry_the_worker_is_already_sending_does_not_pay_twice(
        world, database, database_url):
    """The worker reads the retry as 'queued', then (before its UPDATE to 'sending') the first attempt's
    late success cancels the retry as superseded. The worker must not then send it to M-Pesa."""
    needs_postgres(database)
    service, worker, gateway, _ = world
    order = released_order(world)
    worker.run_once()                                            # the payout goes out
    [first] = payouts_of(database, order.reference)
    assert first.status == "sent" and len(gateway.payouts) == 1
    assert service.record_payout_result(PayoutResult(first.originator_conversation_id, first.conversation_id,
                                                     False, "1", "insufficient float")) == "failed"
    Reconciler(database, service.core, gateway, NOW, CALLBACK_PARSERS).retry_failed_payouts(ReconcileReport())
    first, retry = payouts_of(database, order.reference)
    assert retry.status == "queued"

    worker_db = Database(database_url)
    try:
        pause = PauseBefore(worker_db.engine, lambda sql, params: sql.lstrip().upper().startswith("UPDATE PAYOUTS")
                            and isinstance(params, dict) and params.get("status") == "sending")
        outcome = {}
        sender = threading.Thread(target=lambda: outcome.setdefault(
            "send", send_transfer(worker_db, service.core, gateway, retry.id)))
        sender.start()
        assert pause.reached.wait(20), "the worker never reached its UPDATE"
        late = service.record_payout_result(PayoutResult(first.originator_conversation_id, first.conversation_id,
                                                         True, "0", "ok", receipt="LATEA1", amount=first.amount))
        pause.go.set()
        sender.join(30)
        assert not sender.is_alive()
    finally:
        worker_db.dispose()
    first, retry = payouts_of(database, order.reference)
    sent = [p["originator_id"] for p in gateway.payouts]
    assert late == "succeeded" and (first.status, retry.status) == ("succeeded", "failed")
    for number, originator in enumerate(sent[1:]):              # M-Pesa pays whatever it accepted
        service.record_payout_result(PayoutResult(originator, None, True, "0", "ok", receipt=f"LATEB{number}",
                                                  amount=first.amount))
    money_in, money_out = cash_for(database, order.reference)
    assert money_out <= first.amount <= money_in, (
        f"order {order.reference}: paid in {money_in}, paid out {money_out} for a payout of {first.amount} "
        f"(transfers {[(p.originator_conversation_id, p.status) for p in payouts_of(database, order.reference)]})")
    # M-Pesa must have been asked to pay this order once only: the retry was cancelled before it left.
    assert sent == [first.originator_conversation_id], (
        f"retry {retry.originator_conversation_id} was cancelled as superseded ({retry.result_code}) yet sent "
        f"to M-Pesa: worker said {outcome.get('send')!r}; M-Pesa asked to pay {sent}")
    books_ok(database)


def test_late_successes_retries_and_the_worker_racing_never_send_a_cancelled_retry(world, database):
    """No pause injected: the first attempt's late success, the reconcile pass retrying it and the worker
    sending what is due, at the same moment, 40 times. A retry cancelled as superseded must never have
    been sent; a retry that was sent before the late success is a flagged double payment (books_ok)."""
    needs_postgres(database)
    service, worker, gateway, _ = world
    reconciler = Reconciler(database, service.core, gateway, NOW, CALLBACK_PARSERS)
    for round_ in range(40):
        order = released_order(world)
        worker.run_once()
        [first] = payouts_of(database, order.reference)
        assert service.record_payout_result(PayoutResult(first.originator_conversation_id, first.conversation_id,
                                                         False, "1", "insufficient float")) == "failed"

        def keep_sending():
            return [worker.run_once() for _ in range(30)]
        late = PayoutResult(first.originator_conversation_id, first.conversation_id, True, "0", "ok",
                            receipt=f"LATE{round_:03d}", amount=first.amount)
        # as the callback intake applies it: a unique-key conflict (a twin won) is applied once more
        outcomes = race([lambda: CallbackIntake._run(lambda _raw, _id: service.record_payout_result(late), "", 0),
              lambda: reconciler.retry_failed_payouts(ReconcileReport()),
              keep_sending])
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        worker.run_once()
        rows = payouts_of(database, order.reference)
        sent = {p["originator_id"] for p in gateway.payouts if p["originator_id"].startswith(f"Z{order.reference}")}
        cancelled_yet_sent = [p.originator_conversation_id for p in rows
                              if p.result_code == "superseded" and p.originator_conversation_id in sent]
        assert cancelled_yet_sent == [], f"round {round_}: cancelled retries sent to M-Pesa: {cancelled_yet_sent}"
        for number, originator in enumerate(sorted(sent - {first.originator_conversation_id})):
            service.record_payout_result(PayoutResult(originator, None, True, "0", "ok",
                                                      receipt=f"R{round_:03d}B{number}", amount=first.amount))
        money_in, money_out = cash_for(database, order.reference)
        assert money_out <= money_in * len(sent)   # what M-Pesa accepted, never more
    books_ok(database)


# --- 3. one order paid twice at once: the same STK callback twice and a paybill payment ---------
def test_a_doubled_stk_callback_and_a_paybill_payment_at_once_fund_once_and_owe_the_rest_back(world, database):
    needs_postgres(database)
    service, worker, gateway, _ = world
    for round_ in range(15):
        order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000 + round_, item="Radio")
        worker.run_once()
        stk = PaymentResult(gateway.pushes[-1]["checkout_id"], True, "0", "ok", order.charge, f"RSTK{round_:04d}")
        paybill = PaybillPayment(trans_id=f"RPB{round_:05d}", amount=order.charge, account=order.reference,
                                 shortcode="174379")
        apply_stk = lambda: CallbackIntake._run(lambda _r, _i: service.record_payment_result(stk), "", 0)  # noqa: E731
        outcomes = race([apply_stk, apply_stk,
                         lambda: CallbackIntake._run(lambda _r, _i: service.record_paybill_payment(paybill), "", 0)])
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert sorted(outcomes) in (["duplicate", "funded", "refunding"], ["duplicate", "funded", "return_held"]), \
            outcomes
        with database.transaction() as session:
            order_id = session.scalar(select(Order.id).where(Order.reference == order.reference))
            held = ledger.held_for(session, order_id)
            owed_back = -ledger.balance(session, ledger.REFUNDS_PAYABLE, order_id)
            received = session.scalar(select(func.count()).select_from(PaymentReceived)
                                      .where(PaymentReceived.order_id == order_id))
        money_in, money_out = cash_for(database, order.reference)
        assert (held, owed_back, received, money_in, money_out) == (order.charge, order.charge, 2,
                                                                    2 * order.charge, 0)
    worker.run_once()
    books_ok(database)


# --- 4. a B2C result, its status answer and a queue timeout for the same transfer at once -------
def test_a_result_a_status_answer_and_a_timeout_racing_settle_a_payout_once(world, database):
    needs_postgres(database)
    service, worker, gateway, _ = world
    for round_ in range(12):
        order = released_order(world)
        worker.run_once()
        [payout] = payouts_of(database, order.reference)
        ok = PayoutResult(payout.originator_conversation_id, payout.conversation_id, True, "0", "ok",
                          receipt=f"B2C{round_:05d}", amount=payout.amount)
        failed = PayoutResult(payout.originator_conversation_id, payout.conversation_id, False, "2001", "bad")
        racers = [lambda: service.record_payout_result(ok), lambda: service.record_payout_result(ok),
                  lambda: service.record_payout_timeout(ok)]
        if round_ % 2:   # a contradicting failure too (a misreported answer): success must not be undone
            racers.append(lambda: service.record_payout_result(failed))
        outcomes = race([lambda r=r: CallbackIntake._run(lambda _a, _b: r(), "", 0) for r in racers])
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        [payout] = payouts_of(database, order.reference)
        money_in, money_out = cash_for(database, order.reference)
        # whichever came first, M-Pesa's success stands, once: one settlement, the amount out once
        assert payout.status == "succeeded" and outcomes.count("succeeded") == 1, (payout.status, outcomes)
        assert money_out == payout.amount, (money_out, outcomes)
        assert money_out <= money_in
        with database.transaction() as session:
            state = session.scalar(select(Order.state).where(Order.reference == order.reference))
        assert state == "paid_out", (state, outcomes)
    books_ok(database)


# --- 5. a late success while its retry is out, and the retry then never pays --------------------
def retried_payout(world, database):
    """A released order whose first payout failed with a retryable code and was retried: (order, first, retry)."""
    service, worker, gateway, _ = world
    order = released_order(world)
    worker.run_once()
    [first] = payouts_of(database, order.reference)
    assert service.record_payout_result(PayoutResult(first.originator_conversation_id, first.conversation_id,
                                                     False, "1", "insufficient float")) == "failed"
    Reconciler(database, service.core, gateway, NOW, CALLBACK_PARSERS).retry_failed_payouts(ReconcileReport())
    first, retry = payouts_of(database, order.reference)
    assert retry.status == "queued"
    return order, first, retry


def paid_once_and_closed(world, database, order, first, sent_before: int):
    """M-Pesa paid the first attempt only: nothing more is sent, the books settle it once, the order is
    paid out, nothing is owed back and no double payment is left to recover."""
    service, worker, gateway, _ = world
    for _ in range(2):
        Reconciler(database, service.core, gateway, NOW, CALLBACK_PARSERS).retry_failed_payouts(ReconcileReport())
        worker.run_once()
    rows = payouts_of(database, order.reference)
    money_in, money_out = cash_for(database, order.reference)
    assert len(gateway.payouts) == sent_before, f"sent after the first attempt was known paid: {gateway.payouts}"
    assert [(p.originator_conversation_id, p.status) for p in rows][0] == (first.originator_conversation_id,
                                                                           "succeeded"), rows
    assert all(p.status == "failed" for p in rows[1:]), [(p.originator_conversation_id, p.status) for p in rows]
    assert money_out == first.amount <= money_in
    with database.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == order.reference))
        state = session.scalar(select(Order.state).where(Order.id == order_id))
        overpaid = ledger.balance(session, ledger.OVERPAID, order_id)
        payable = ledger.balance(session, ledger.SELLER_PAYABLE, order_id)
    assert (state, overpaid, payable) == ("paid_out", 0, 0)
    open_doubles = [f for f in service.open_findings() if f["kind"] == "double-payment"]
    assert open_doubles == [], open_doubles
    books_ok(database)


def test_a_retry_whose_send_fails_before_it_leaves_after_the_first_was_paid_is_not_sent_again(world, database):
    """The first attempt's late success arrives while its retry's B2C call is under way (too late to
    cancel it), and that call then fails before anything left (connection refused). The retry must not
    be queued to go again: the first attempt paid, and it is the settlement."""
    service, worker, gateway, _ = world
    order, first, retry = retried_payout(world, database)
    late = PayoutResult(first.originator_conversation_id, first.conversation_id, True, "0", "ok",
                        receipt="LATEC1", amount=first.amount)
    real_send, said = gateway.send_payout, {}

    def refused_while_the_first_is_reported_paid(**request):
        gateway.send_payout = real_send
        said["late"] = service.record_payout_result(late)
        raise GatewayError("connection refused", retryable=True)
    gateway.send_payout = refused_while_the_first_is_reported_paid
    sent_before = len(gateway.payouts)
    worker.run_once()
    assert said["late"] == "double_paid"        # booked as a double payment while the retry was out
    with database.transaction() as session:    # time passes: the outbox's back-off for the retry is over
        session.execute(update(OutboxItem).values(due_at=db_now(session) - timedelta(minutes=1)))
    paid_once_and_closed(world, database, order, first, sent_before)


def paid_late_then_retry_failed(world, database, receipt: str):
    """The retry went out, the first attempt's late success was booked as a double payment, then M-Pesa
    answered the retry with a failure: (order, first, retry)."""
    service, worker, _, _ = world
    order, first, retry = retried_payout(world, database)
    worker.run_once()
    first, retry = payouts_of(database, order.reference)
    assert retry.status == "sent"
    assert service.record_payout_result(PayoutResult(first.originator_conversation_id, first.conversation_id, True,
                                                     "0", "ok", receipt=receipt, amount=first.amount)) == "double_paid"
    assert service.record_payout_result(PayoutResult(retry.originator_conversation_id, retry.conversation_id,
                                                     False, "2001", "initiator information is invalid")) == "failed"
    return order, first, retry


def test_a_late_success_whose_retry_then_fails_is_the_settlement_after_all(world, database):
    """The first payment settles the order (no Reversal, no third try)."""
    gateway = world[2]
    order, first, _ = paid_late_then_retry_failed(world, database, "LATED1")
    paid_once_and_closed(world, database, order, first, len(gateway.payouts))
