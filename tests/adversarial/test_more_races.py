"""More races on real PostgreSQL, in areas the other adversarial files leave alone: an outbox lease that
runs out while its worker is still calling Daraja for a B2C transfer or a Reversal (a second worker takes
the item), an operator's cancel racing the money that pays the order, and one Idempotency-Key sent many
times at once. Each ends with the money: sent to M-Pesa at most once, money out never more than money in,
every payment held once or owed back once, the books balanced."""
import dataclasses
import threading

import pytest
from sqlalchemy import func, select

from escrow import ledger
from escrow.intake import CallbackIntake
from escrow.models import Order, PaymentAttempt
from escrow.paybill import PaybillPayment
from escrow.payments import PaymentResult
from escrow.payouts import PayoutResult, send_transfer
from escrow.ports import GatewayError
from escrow.reconcile import Reconciler
from escrow.return_limits import ReturnLimits
from escrow.service import EscrowService
from escrow.worker import Worker
from mpesa.routes import CALLBACK_PARSERS
from tests.adversarial.conftest import books_ok, needs_postgres, race
from tests.adversarial.test_money_back_races import FakeMoneyIn, reversals_of, state_of
from tests.adversarial.test_money_in_races import money_of, pushed_order
from tests.adversarial.test_settlement_races import NOW, cash_for, payouts_of, released_order
from tests.api.conftest import BUYER as API_BUYER, SELLER as API_SELLER, app, shop  # noqa: F401 -- fixtures
from tests.integration.test_escrow_core import BUYER, SELLER


class SlowFirstCall:
    """Wraps a gateway: the first call of `method` waits (Daraja slow to answer) until released, then
    answers as the wrapped gateway would, or raises `then_raise`."""

    def __init__(self, inner, method: str, then_raise: Exception | None = None):
        self.inner, self.method, self.then_raise = inner, method, then_raise
        self.calling, self.answer, self.first = threading.Event(), threading.Event(), True

    def __getattr__(self, name):
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def call(**kwargs):
            if self.first:
                self.first = False
                self.calling.set()
                self.answer.wait(20)
                if self.then_raise is not None:
                    raise self.then_raise
            return real(**kwargs)
        return call


def retaken_mid_call(first_call, second_call, slow):
    """Worker A is in the slow call when worker B (the lease ran out) runs the same item; (A's, B's) words."""
    out = {}
    a = threading.Thread(target=lambda: out.setdefault("A", _result_of(first_call)))
    a.start()
    assert slow.calling.wait(20), "worker A never called Daraja"
    out["B"] = _result_of(second_call)
    slow.answer.set()
    a.join(30)
    assert not a.is_alive(), "worker A never came back"
    return out["A"], out["B"]


def _result_of(call):
    try:
        return call()
    except Exception as error:  # noqa: BLE001 -- a raised error is what the worker saw
        return error


# --- 1. a B2C payout retaken by a second worker while the first is in the call ------------------
def test_a_payout_retaken_mid_call_is_sent_once_and_settles_once(world, database):
    """A's lease ran out while Daraja was slow to take its B2C request; B finds the payout 'sending' and
    marks it unknown (never re-sent). Daraja then accepts A's request and pays: its result and the status
    check's 'Completed' must settle the payout once, the order paid out, the seller paid once."""
    needs_postgres(database)
    service, worker, gateway, _ = world
    order = released_order(world)
    [payout] = payouts_of(database, order.reference)
    slow = SlowFirstCall(gateway, "send_payout")
    said_a, said_b = retaken_mid_call(lambda: send_transfer(database, service.core, slow, payout.id),
                                      lambda: send_transfer(database, service.core, gateway, payout.id), slow)
    assert said_b == "unknown", (said_a, said_b)
    for _ in range(2):     # the outbox item itself, the status checks, the reconcile pass: nothing re-sends it
        worker.run_once()
        Reconciler(database, service.core, gateway, NOW, CALLBACK_PARSERS).run()
    sent = [p for p in gateway.payouts if p["originator_id"] == payout.originator_conversation_id]
    assert len(sent) == 1, f"sent to M-Pesa {len(sent)} times (A said {said_a!r}, B said {said_b!r})"
    ok = PayoutResult(payout.originator_conversation_id, "AG_LATE", True, "0", "ok", receipt="LEASE1",
                      amount=payout.amount)
    status = PayoutResult(payout.originator_conversation_id, None, True, "0", "confirmed by status query",
                          receipt="LEASE1", amount=payout.amount)
    outcomes = race([lambda: CallbackIntake._run(lambda _a, _b: service.record_payout_result(ok), "", 0),
                     lambda: CallbackIntake._run(lambda _a, _b: service.record_payout_result(status), "", 0)])
    assert sorted(outcomes) == ["duplicate", "succeeded"], outcomes
    money_in, money_out = cash_for(database, order.reference)
    assert money_out == payout.amount <= money_in, (money_in, money_out)
    assert state_of(database, order.reference) == "paid_out"
    books_ok(database)


def test_a_payout_whose_slow_call_is_refused_after_a_retake_is_never_sent_and_stays_owed(world, database):
    """As above, but A's call then fails before anything left (connection refused). B had marked it
    unknown: nothing may be sent (M-Pesa might hold it), the seller's money must stay owed, not vanish."""
    needs_postgres(database)
    service, worker, gateway, _ = world
    order = released_order(world)
    [payout] = payouts_of(database, order.reference)
    slow = SlowFirstCall(gateway, "send_payout", then_raise=GatewayError("connection refused", retryable=True))
    said_a, said_b = retaken_mid_call(lambda: send_transfer(database, service.core, slow, payout.id),
                                      lambda: send_transfer(database, service.core, gateway, payout.id), slow)
    for _ in range(3):
        worker.run_once()
        Reconciler(database, service.core, gateway, NOW, CALLBACK_PARSERS).run()
    assert gateway.payouts == [], (said_a, said_b, gateway.payouts)
    [payout] = payouts_of(database, order.reference)
    with database.transaction() as session:
        owed = -ledger.balance(session, ledger.SELLER_PAYABLE, payout.order_id)
    money_in, money_out = cash_for(database, order.reference)
    assert (money_out, owed) == (0, payout.amount), (said_a, said_b, payout.status, money_out, owed)
    assert payout.status in ("unknown", "queued", "failed"), payout.status
    books_ok(database)


# --- 2. a Reversal retaken by a second worker while the first is in the call ----------------------
def reversal_to_send(world, database, round_=0):
    """A paybill-funded order the seller cancelled: one Reversal of its TransID queued. (order, reversal)."""
    service, _, _, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000 + round_, item="Radio", prompt=False)
    paid = PaybillPayment(trans_id=f"RVLS{round_:05d}", amount=order.charge, account=order.reference,
                          shortcode="174379")
    assert service.record_paybill_payment(paid, None, "174379") == "funded"
    service.cancel_order(SELLER, order.reference)
    [reversal] = reversals_of(database, order.reference)
    assert reversal.status == "queued"
    return order, reversal


def test_a_reversal_retaken_mid_call_is_sent_once_and_its_answers_settle_it_once(world, database):
    from escrow.reversals import ReversalResult, check_reversal, send_reversal
    from tests.adversarial.test_money_back_races import reversal_answer
    needs_postgres(database)
    service, _, _, _ = world
    order, reversal = reversal_to_send(world, database)
    money_in_gateway = FakeMoneyIn()
    slow = SlowFirstCall(money_in_gateway, "reverse_payment")
    said_a, said_b = retaken_mid_call(lambda: send_reversal(database, service.core, slow, reversal.id),
                                      lambda: send_reversal(database, service.core, money_in_gateway, reversal.id),
                                      slow)
    assert said_b == "unknown", (said_a, said_b)
    for _ in range(3):     # the item again, and the status checks: never sent again
        send_reversal(database, service.core, money_in_gateway, reversal.id)
        check_reversal(database, service.core, money_in_gateway, reversal.id)
    assert money_in_gateway.reversals == [(reversal.trans_id, reversal.amount)], money_in_gateway.reversals
    ok = ReversalResult(True, True, "0", "reversed")
    outcomes = race([lambda: CallbackIntake._run(lambda _a, _b: reversal_answer(database, service.core,
                                                                                reversal.id, ok), "", 0)] * 3)
    assert sorted(outcomes) == ["duplicate", "duplicate", "succeeded"], outcomes
    money_in, money_out = cash_for(database, order.reference)
    assert money_in == money_out == order.charge, (money_in, money_out, said_a, said_b)
    assert state_of(database, order.reference) == "refunded"
    books_ok(database)


def test_a_reversal_whose_slow_call_is_refused_after_a_retake_is_never_resent_and_stays_owed(world, database):
    from escrow.reversals import check_reversal, send_reversal
    needs_postgres(database)
    service, _, _, _ = world
    order, reversal = reversal_to_send(world, database, 1)
    money_in_gateway = FakeMoneyIn()
    slow = SlowFirstCall(money_in_gateway, "reverse_payment",
                         then_raise=GatewayError("connection refused", retryable=True))
    said_a, said_b = retaken_mid_call(lambda: send_reversal(database, service.core, slow, reversal.id),
                                      lambda: send_reversal(database, service.core, money_in_gateway, reversal.id),
                                      slow)
    for _ in range(8):
        send_reversal(database, service.core, money_in_gateway, reversal.id)
        check_reversal(database, service.core, money_in_gateway, reversal.id)
    assert money_in_gateway.reversals == [], (said_a, said_b, money_in_gateway.reversals)
    with database.transaction() as session:
        owed = -ledger.balance(session, ledger.REFUNDS_PAYABLE, reversal.order_id)
    money_in, money_out = cash_for(database, order.reference)
    assert (money_in, money_out, owed) == (order.charge, 0, order.charge), (said_a, said_b, money_out, owed)
    flagged = [f for f in service.open_findings() if f["kind"].startswith("reversal-")]
    assert flagged, "the money is owed back with no reversal out and nobody told"
    books_ok(database)


# --- 3. an operator's cancel racing the money that pays the order ---------------------------------
@pytest.fixture
def roomy(world):
    """The world with the automatic-return caps out of the way: every shilling owed back is sent back."""
    service, _, gateway, sms = world
    core = dataclasses.replace(service.core, returns=ReturnLimits(per_order=50, per_day=100_000,
                                                                  amount_per_day=10**9))
    return EscrowService(service.db, core), Worker(service.db, core, gateway, sms), gateway, sms


def test_an_operator_cancel_racing_the_stk_callback_and_paybill_payments_keeps_every_shilling(roomy, database):
    """Even rounds: an unpaid order; its push's STK success, a paybill payment and the operator's cancel
    at once. Odd rounds: an order already funded by paybill; the operator's cancel (a full refund) races
    the push's STK success and a second paybill payment. Whatever wins, every payment is held once or
    owed back once, and what is queued to go back is never more than what is owed back."""
    from escrow.operator_cancel import cancel_by_operator
    needs_postgres(database)
    world = roomy
    service, worker, gateway, _ = world

    def operator_cancel(reference):
        with service.db.transaction() as session:
            return cancel_by_operator(session, service.core, reference, actor="ops", reason="race").state
    for round_ in range(16):
        order, _, checkout_id = pushed_order(world, price=2_000 + round_)
        payments = 0
        if round_ % 2:
            first = PaybillPayment(trans_id=f"ROCA{round_:05d}", amount=order.charge, account=order.reference,
                                   shortcode="174379")
            assert service.record_paybill_payment(first) == "funded"
            payments = 1
        stk = PaymentResult(checkout_id, True, "0", "ok", order.charge, f"ROCS{round_:05d}")
        paybill = PaybillPayment(trans_id=f"ROCB{round_:05d}", amount=order.charge, account=order.reference,
                                 shortcode="174379")
        outcomes = race([lambda: operator_cancel(order.reference),
                         lambda: CallbackIntake._run(lambda _r, _i: service.record_payment_result(stk), "", 0),
                         lambda: CallbackIntake._run(lambda _r, _i: service.record_paybill_payment(paybill), "", 0)])
        payments += 2
        assert not [o for o in outcomes[1:] if isinstance(o, Exception)], (round_, outcomes)
        for _ in range(2):
            worker.run_once()
        state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
        detail = (round_, state, held, owed_back, suspense, receipts, money_in, outcomes)
        assert len(receipts) == payments and money_in == payments * order.charge, detail
        assert held + owed_back + suspense == money_in and money_out == 0, detail
        assert held == (order.charge if state in ("funded",) else 0), detail
        reversals = reversals_of(database, order.reference)
        transfers = payouts_of(database, order.reference)
        going_back = sum(r.amount for r in reversals) + sum(p.amount for p in transfers)
        assert len({r.trans_id for r in reversals}) == len(reversals), detail
        assert going_back == owed_back, (detail, [(r.trans_id, r.amount) for r in reversals],
                                         [(p.purpose, p.amount) for p in transfers])
    books_ok(database)


# --- 4. one Idempotency-Key sent many times at once -----------------------------------------------
def test_one_idempotency_key_sent_six_times_at_once_makes_one_order_and_one_push(shop):  # noqa: F811
    db = shop.zemi.db
    needs_postgres(db)
    buyer = shop.verify(API_BUYER)
    for round_ in range(5):
        body = {"seller_phone": API_SELLER, "amount": 1_500 + round_, "item": "Kitenge"}
        headers = shop.headers(buyer, f"same-key-{round_}")
        clients = [shop.app.test_client() for _ in range(6)]
        answers = race([lambda c=c: c.post("/v1/orders", json=body, headers=headers) for c in clients])
        assert not [a for a in answers if isinstance(a, Exception)], answers
        codes = sorted(a.status_code for a in answers)
        made = [a for a in answers if a.status_code == 201 and a.headers.get("Idempotent-Replayed") is None]
        with db.transaction() as session:
            orders = session.scalar(select(func.count()).select_from(Order).where(Order.price == 1_500 + round_))
            pushes = session.scalar(select(func.count()).select_from(PaymentAttempt).join(
                Order, Order.id == PaymentAttempt.order_id).where(Order.price == 1_500 + round_))
        assert len(made) == 1 and set(codes) <= {201, 409}, (round_, codes)
        assert (orders, pushes) == (1, 1), (round_, codes, orders, pushes)
        references = {a.json.get("reference") for a in answers if a.status_code == 201}
        assert len(references) == 1, references


# --- 5. the reconcile pass settling by the earlier payment while the retry's late success lands -------
def test_a_retry_reported_paid_while_reconcile_settles_by_the_earlier_payment_leaves_one_double_payment(
        world, database, database_url):
    """The first payout failed and was retried; M-Pesa then reported the first paid (a double payment,
    flagged) and the retry failed. The reconcile pass reads the retry as failed and goes to let the earlier
    payment settle the order (closing the double-payment finding); before it locks, M-Pesa's status answer
    says the retry was paid after all. Both transfers paid: exactly one of them must stay a double payment
    to recover (overpaid, finding open), and the seller's payable must be settled once, not twice."""
    from escrow.db import Database
    from escrow.reconcile import ReconcileReport
    from tests.adversarial.test_settlement_races import PauseBefore, paid_late_then_retry_failed
    needs_postgres(database)
    service, _, gateway, _ = world
    order, first, retry = paid_late_then_retry_failed(world, database, "EARLY1")
    reconcile_db = Database(database_url)
    try:
        pause = PauseBefore(reconcile_db.engine, lambda sql, params: sql.lstrip().upper().startswith("SELECT")
                            and "FOR UPDATE" in sql.upper() and "payouts" in sql)
        said = {}
        reconciler = Reconciler(reconcile_db, service.core, gateway, NOW, CALLBACK_PARSERS)
        thread = threading.Thread(target=lambda: said.setdefault("reconcile", _result_of(
            lambda: reconciler.retry_failed_payouts(ReconcileReport()))))
        thread.start()
        reached = pause.reached.wait(20)
        late = service.record_payout_result(PayoutResult(retry.originator_conversation_id, None, True, "0",
                                                         "confirmed by status query", receipt="LATER1",
                                                         amount=retry.amount))
        pause.go.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        reconcile_db.dispose()
    assert reached, "the reconcile pass never went to settle by the earlier payment"
    rows = payouts_of(database, order.reference)
    money_in, money_out = cash_for(database, order.reference)
    with database.transaction() as session:
        overpaid = ledger.balance(session, ledger.OVERPAID, first.order_id)
        payable = ledger.balance(session, ledger.SELLER_PAYABLE, first.order_id)
    doubles = [f for f in service.open_findings() if f["kind"] == "double-payment"]
    detail = (f"retry's late success said {late!r}, reconcile said {said.get('reconcile')!r}; transfers "
              f"{[(p.originator_conversation_id, p.status) for p in rows]}; cash out {money_out} of in {money_in}; "
              f"overpaid {overpaid}, seller payable {payable}; open double-payment findings {len(doubles)}")
    assert money_out == 2 * first.amount, detail          # M-Pesa paid both: that is what went out
    assert (overpaid, payable) == (first.amount, 0), detail
    assert len(doubles) == 1, detail
    # and the pass itself ran through (it re-reads the retry under its lock), not rolled back whole
    assert not isinstance(said.get("reconcile"), Exception), detail
    books_ok(database)


# --- 6. two checkers approving one proposed decision at once, and a direct decision too -------------
def test_two_checkers_approving_one_split_at_once_and_a_direct_refund_move_the_money_once(world, database):
    """The console's maker-checker flow at the core: each approval runs the decision with an audit step
    that claims the proposal (a compare-and-swap on its row, console/approvals.py) in the same
    transaction. Two checkers approve the same proposed split while another operator refunds the dispute
    directly: one decision wins, the proposal is approved only if it was carried out, money leaves once."""
    from sqlalchemy import update as sql_update

    from escrow.db import db_now, insert_row
    from escrow.errors import EscrowError
    from escrow.models import Approval
    from tests.adversarial.test_money_back_races import disputed_order
    needs_postgres(database)
    service, worker, _, _ = world
    for round_ in range(12):
        order = disputed_order(world)
        with database.transaction() as session:
            approval_id = insert_row(session, Approval, order_reference=order.reference, action="resolve_dispute",
                                     maker="maker", detail="{}", status="pending")

        def approve(checker):
            def record(session, resolved):
                won = session.execute(sql_update(Approval).where(Approval.id == approval_id,
                                                                 Approval.status == "pending")
                                      .values(status="approved", checker=checker,
                                              decided_at=db_now(session))).rowcount
                if not won:
                    raise EscrowError("this proposal was decided meanwhile; nothing was done")
            return service.resolve_dispute(order.reference, outcome="split", to_seller=600, note="half",
                                           actor=checker, audit=record)
        outcomes = race([lambda: approve("checker1"), lambda: approve("checker2"),
                         lambda: service.resolve_dispute(order.reference, outcome="refund", note="direct",
                                                         actor="other")])
        won = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(won) == 1, (round_, outcomes)
        worker.run_once()
        rows = payouts_of(database, order.reference)
        with database.transaction() as session:
            approval = session.get(Approval, approval_id)
        split_won = not isinstance(outcomes[0], Exception) or not isinstance(outcomes[1], Exception)
        assert (approval.status == "approved") == split_won, (round_, approval.status, outcomes)
        assert sorted(p.purpose for p in rows) == (["payout", "refund"] if split_won else ["refund"]), (
            round_, outcomes, [(p.purpose, p.amount) for p in rows])
        for number, p in enumerate(rows):
            service.record_payout_result(PayoutResult(p.originator_conversation_id, None, True, "0", "ok",
                                                      receipt=f"MC{round_:03d}{number}", amount=p.amount))
        money_in, money_out = cash_for(database, order.reference)
        assert money_out <= money_in, (round_, money_in, money_out, outcomes)
        if not split_won:    # the proposal is still pending on a decided order: it can no longer be carried out
            with database.transaction() as session:
                session.execute(sql_update(Approval).where(Approval.id == approval_id).values(status="rejected"))
    books_ok(database)
