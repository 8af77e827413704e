"""Money-back races: refunds, dispute splits and reversals under interleavings and duplicate or
out-of-order deliveries, on real PostgreSQL. Each ends with the books: balanced, nothing paid twice,
money out never more than money in, each transfer sent to M-Pesa at most once."""
import threading

import pytest
from sqlalchemy import select

from escrow.db import Database
from escrow.intake import CallbackIntake
from escrow.models import Order, Payout
from escrow.payouts import PayoutResult
from escrow.reconcile import Reconciler, ReconcileReport
from escrow.service import EscrowService
from mpesa.routes import CALLBACK_PARSERS
from tests.adversarial.conftest import books_ok, needs_postgres, race
from tests.adversarial.test_settlement_races import (NOW, PauseBefore, cash_for, payouts_of, released_order)
from tests.integration.test_escrow_core import BUYER, SELLER, funded_order


def refunding_order(world):
    """A funded order an operator cancelled: its whole charge goes back by a queued B2C refund."""
    service, worker, _, _ = world
    order = funded_order(world)
    worker.run_once()
    with service.db.transaction() as session:
        from escrow.operator_cancel import cancel_by_operator
        cancel_by_operator(session, service.core, order.reference, actor="ops", reason="test")
    return order


def state_of(database, reference):
    with database.transaction() as session:
        return session.scalar(select(Order.state).where(Order.reference == reference))


def split_order(world):
    """A dispute split: a payout to the seller and a refund to the buyer, both queued."""
    order = disputed_order(world)
    assert world[0].resolve_dispute(order.reference, outcome="split", to_seller=600, note="half") == "settling"
    return order


# --- 1. a success read as 'sent' while its failure and retry commit underneath ----------------
@pytest.mark.parametrize("retry_sent_first", [False, True], ids=["retry-queued", "retry-sent"])
@pytest.mark.parametrize("make,purpose", [(released_order, "payout"), (refunding_order, "refund"),
                                          (lambda w: split_order(w), "refund"), (lambda w: split_order(w), "payout")],
                         ids=["payout", "refund", "split-refund", "split-payout"])
def test_a_success_applied_after_a_failure_and_retry_committed_under_it_cancels_or_flags_the_retry(
        world, database, database_url, make, purpose, retry_sent_first):
    """The success for transfer P1 reads P1 as 'sent'; before its UPDATE, P1's (contradicting) failure
    commits and the reconcile pass queues retry P2. The success then lands on a 'failed' P1: it must
    cancel the unsent retry (or flag a double payment), never leave P2 to be sent too."""
    needs_postgres(database)
    service, worker, gateway, _ = world
    order = make(world)
    worker.run_once()
    [first] = [p for p in payouts_of(database, order.reference) if p.purpose == purpose]
    mine = lambda: [p["originator_id"] for p in gateway.payouts  # noqa: E731
                    if p["originator_id"].split("-")[0] == first.originator_conversation_id]
    assert first.status == "sent" and len(mine()) == 1
    ok = PayoutResult(first.originator_conversation_id, first.conversation_id, True, "0", "ok",
                      receipt="LATEOK1", amount=first.amount)
    answer_db = Database(database_url)
    try:
        answers = EscrowService(answer_db, service.core)
        pause = PauseBefore(answer_db.engine, lambda sql, params: sql.lstrip().upper().startswith("UPDATE PAYOUTS")
                            and isinstance(params, dict) and params.get("status") == "succeeded")
        outcome = {}
        applier = threading.Thread(target=lambda: outcome.setdefault("ok", CallbackIntake._run(
            lambda _raw, _id: answers.record_payout_result(ok), "", 0)))
        applier.start()
        assert pause.reached.wait(20), "the success never reached its UPDATE"
        failed = service.record_payout_result(PayoutResult(first.originator_conversation_id, first.conversation_id,
                                                           False, "1", "insufficient float"))
        Reconciler(database, service.core, gateway, NOW, CALLBACK_PARSERS).retry_failed_payouts(ReconcileReport())
        if retry_sent_first:
            worker.run_once()
            assert len(mine()) == 2
        pause.go.set()
        applier.join(30)
        assert not applier.is_alive()
    finally:
        answer_db.dispose()
    for _ in range(3):
        worker.run_once()
    sent = mine()
    for number, originator in enumerate(sent[1:]):              # M-Pesa pays whatever it accepted
        service.record_payout_result(PayoutResult(originator, None, True, "0", "ok", receipt=f"LATEB{number}",
                                                  amount=first.amount))
    rows = [p for p in payouts_of(database, order.reference) if p.purpose == purpose]
    money_in, money_out = cash_for(database, order.reference)
    detail = (f"failure said {failed!r}, success said {outcome.get('ok')!r}; transfers "
              f"{[(p.originator_conversation_id, p.status, p.result_code) for p in rows]}; M-Pesa asked to pay {sent}; "
              f"order {state_of(database, order.reference)}; cash in {money_in} out {money_out}")
    assert len(sent) == len(set(sent)), detail                      # no transfer sent twice
    assert len(sent) == 1 or any(p.status == "double_paid" for p in rows), detail   # a second one is flagged
    assert money_out == first.amount * len(sent), detail            # the books say what M-Pesa paid
    assert len(sent) > 1 or money_out <= money_in, detail
    books_ok(database)


# --- 2. a dispute split: its payout's and its refund's successes at the same moment -----------
def disputed_order(world):
    service, worker, _, _ = world
    order = funded_order(world)
    worker.run_once()
    service.mark_dispatched(SELLER, order.reference)
    service.open_dispute(BUYER, order.reference, "not_received")
    return order


def test_a_split_whose_two_transfers_succeed_at_once_pays_each_once_and_settles(world, database):
    needs_postgres(database)
    service, worker, gateway, _ = world
    for round_ in range(12):
        order = disputed_order(world)
        assert service.resolve_dispute(order.reference, outcome="split", to_seller=600, note="half") == "settling"
        worker.run_once()
        payout, refund = sorted(payouts_of(database, order.reference), key=lambda p: p.purpose)
        assert (payout.purpose, refund.purpose) == ("payout", "refund")
        assert (payout.status, refund.status) == ("sent", "sent")
        answers = [PayoutResult(p.originator_conversation_id, p.conversation_id, True, "0", "ok",
                                receipt=f"SPL{round_:03d}{p.purpose[0]}", amount=p.amount) for p in (payout, refund)]
        outcomes = race([lambda a=a: CallbackIntake._run(lambda _r, _i: service.record_payout_result(a), "", 0)
                         for a in answers * 2])          # each answer delivered twice
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert sorted(outcomes) == ["duplicate", "duplicate", "succeeded", "succeeded"], outcomes
        money_in, money_out = cash_for(database, order.reference)
        assert money_out == payout.amount + refund.amount <= money_in, (money_in, money_out)
        sent = [p["originator_id"] for p in gateway.payouts if p["originator_id"].startswith(f"Z{order.reference}")]
        assert sorted(sent) == sorted({payout.originator_conversation_id, refund.originator_conversation_id})
        assert state_of(database, order.reference) == "settled", (
            f"round {round_}: both transfers of the split succeeded ({outcomes}) but the order is "
            f"{state_of(database, order.reference)}")
    books_ok(database)


# --- 3. an order refunded by two reversals: their results (and status answers) at once --------
def reversals_of(database, reference):
    from escrow.models import Reversal
    with database.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == reference))
        return list(session.scalars(select(Reversal).where(Reversal.order_id == order_id).order_by(Reversal.id)))


class FakeMoneyIn:
    """Daraja's Reversal and status-query calls, recorded (thread-safe)."""

    def __init__(self):
        self.reversals, self.queries, self._lock = [], [], threading.Lock()

    def reverse_payment(self, *, trans_id, amount, reply_to, **_):
        from escrow.ports import ReversalRequested
        with self._lock:
            self.reversals.append((trans_id, amount))
            number = len(self.reversals)
        return ReversalRequested(f"AG_REV{number}", f"REV{number}")

    def query_reversal(self, *, trans_id, reply_to):
        with self._lock:
            self.queries.append(trans_id)


def reversal_answer(database, core, reversal_id, result):
    from escrow.reversals import record_reversal_result
    with database.transaction() as session:
        return record_reversal_result(session, core, reversal_id, result)


def test_two_reversals_of_one_refund_succeeding_at_once_post_once_each_and_close_the_order(world, database):
    """Two paybill payments held in suspense, returned by an operator: two reversals. Their results and
    their status answers (each 'reversed') arrive at the same moment: each reversal's money leaves the
    books once, never more than came in, and the order is refunded."""
    from escrow.paybill import PaybillPayment
    from escrow.reversals import ReversalResult
    needs_postgres(database)
    service, worker, gateway, _ = world
    for round_ in range(12):
        order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio")
        worker.run_once()
        for number, amount in enumerate((300, 400)):
            service.record_paybill_payment(PaybillPayment(trans_id=f"RV{round_:03d}{number}", amount=amount,
                                                          account=order.reference, shortcode="174379"))
        assert service.refund_review(order.reference, note="wrong amounts") == "refunding"
        from escrow.reversals import send_reversal
        money_in_gateway = FakeMoneyIn()
        rows = reversals_of(database, order.reference)
        assert [send_reversal(database, service.core, money_in_gateway, r.id) for r in rows] == ["sent", "sent"]
        ok = ReversalResult(True, True, "0", "reversed")
        outcomes = race([lambda r=r: CallbackIntake._run(lambda _a, _b: reversal_answer(
            database, service.core, r.id, ok), "", 0) for r in rows * 2])
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert sorted(outcomes) == ["duplicate", "duplicate", "succeeded", "succeeded"], outcomes
        money_in, money_out = cash_for(database, order.reference)
        assert money_in == money_out == 700, (money_in, money_out)
        assert state_of(database, order.reference) == "refunded", (
            f"round {round_}: both reversals succeeded ({outcomes}) but the order is "
            f"{state_of(database, order.reference)}")
    books_ok(database)


# --- 4. an operator returns a review order's suspense while another wrong-amount payment lands ---
def test_a_review_refund_racing_a_new_wrong_amount_payment_returns_each_shilling_once(world, database, database_url):
    """The operator's return (refund_review) reads what suspense holds for the order, then moves the
    order; before its UPDATE, a second wrong-amount paybill payment commits into suspense. What is sent
    back must be exactly what the return took out of suspense: a payment reversed while the books still
    hold it in suspense would be returned twice (once more by whoever clears that suspense)."""
    from escrow import ledger
    from escrow.paybill import PaybillPayment
    needs_postgres(database)
    service, worker, _, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio")
    worker.run_once()
    assert service.record_paybill_payment(PaybillPayment(trans_id="RVW0001", amount=300, account=order.reference,
                                                         shortcode="174379")) == "suspense"
    assert state_of(database, order.reference) == "needs_review"
    operator_db = Database(database_url)
    try:
        desk = EscrowService(operator_db, service.core)
        pause = PauseBefore(operator_db.engine, lambda sql, params: sql.lstrip().upper().startswith("UPDATE ORDERS")
                            and isinstance(params, dict) and params.get("state") == "refunding")
        outcome = {}

        def operator():
            try:
                outcome["review"] = desk.refund_review(order.reference, note="wrong amount")
            except Exception as error:  # noqa: BLE001 -- a refusal is a result
                outcome["review"] = error
        thread = threading.Thread(target=operator)
        thread.start()
        assert pause.reached.wait(20), "the operator's return never reached its UPDATE"
        late = service.record_paybill_payment(PaybillPayment(trans_id="RVW0002", amount=400, account=order.reference,
                                                             shortcode="174379"))
        pause.go.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        operator_db.dispose()
    rows = reversals_of(database, order.reference)
    payouts = payouts_of(database, order.reference)
    with database.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == order.reference))
        in_suspense = -ledger.balance(session, ledger.SUSPENSE, order_id)
        owed_back = -ledger.balance(session, ledger.REFUNDS_PAYABLE, order_id)
    going_back = sum(r.amount for r in rows) + sum(p.amount for p in payouts)
    detail = (f"return said {outcome.get('review')!r}, late payment said {late!r}; order "
              f"{state_of(database, order.reference)}; reversals {[(r.trans_id, r.amount) for r in rows]}; "
              f"B2C {[(p.purpose, p.amount) for p in payouts]}; suspense {in_suspense}; owed back {owed_back}")
    # M-Pesa pays the reversals that were sent
    from escrow.reversals import ReversalResult, send_reversal
    money_in_gateway = FakeMoneyIn()
    for r in rows:
        send_reversal(database, service.core, money_in_gateway, r.id)
        reversal_answer(database, service.core, r.id, ReversalResult(True, True, "0", "reversed"))
    money_in, money_out = cash_for(database, order.reference)
    with database.transaction() as session:
        from escrow.reports import ledger_findings
        violations, _ = ledger_findings(session)
        still_in_suspense = -ledger.balance(session, ledger.SUSPENSE, order_id)
        refunds_payable = -ledger.balance(session, ledger.REFUNDS_PAYABLE, order_id)
    detail += (f"; after M-Pesa reversed {money_in_gateway.reversals}: cash in {money_in} out {money_out}, "
               f"suspense still {still_in_suspense}, refunds payable {refunds_payable}, ledger violations {violations}")
    # what is being sent back is what the books moved from suspense to 'owed back', no more
    assert going_back == owed_back, detail
    assert going_back + in_suspense == 700, detail        # every shilling either held or going back, once
    assert money_out + still_in_suspense <= money_in, detail   # money returned is no longer held as well
    assert refunds_payable >= 0 and violations == [], detail


# --- 5. an operator's cancel racing the buyer's confirm, a dispute, the seller's cancel ---------
def test_an_operator_cancel_racing_confirm_dispute_and_seller_cancel_moves_the_money_one_way(world, database):
    from escrow.operator_cancel import cancel_by_operator
    from tests.adversarial.test_settlement_races import latest_code
    needs_postgres(database)
    service, worker, gateway, sms = world

    def operator_cancel(reference):
        with service.db.transaction() as session:
            return cancel_by_operator(session, service.core, reference, actor="ops", reason="race").state
    for round_ in range(15):
        order = funded_order(world)
        worker.run_once()
        service.mark_dispatched(SELLER, order.reference)
        token = service.check_delivery_code(caller=BUYER, code=latest_code(sms)).token
        outcomes = race([lambda: operator_cancel(order.reference),
                         lambda: service.confirm_delivery(caller=BUYER, reference=order.reference, token=token),
                         lambda: service.open_dispute(BUYER, order.reference, "damaged"),
                         lambda: service.cancel_order(SELLER, order.reference)])
        won = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(won) == 1, (round_, outcomes)
        for _ in range(2):
            worker.run_once()
        rows = payouts_of(database, order.reference)
        state = state_of(database, order.reference)
        assert len(rows) <= 1 and (state == "disputed") == (rows == []), (round_, state, outcomes,
                                                                          [(p.purpose, p.amount) for p in rows])
        for p in rows:
            service.record_payout_result(PayoutResult(p.originator_conversation_id, None, True, "0", "ok",
                                                      receipt=f"OPC{round_:03d}", amount=p.amount))
        money_in, money_out = cash_for(database, order.reference)
        assert money_out <= money_in, (round_, money_in, money_out, outcomes)
    books_ok(database)


# --- 6. a reversal's failure result, then its status answer saying 'Reversed' -----------------
def test_a_reversal_reported_reversed_after_a_failure_result_is_booked_as_money_out(world, database):
    """Out of order: the status check asked while the reversal was 'sent' answers 'Reversed' after a
    (misreported or stale) failure result marked it failed. M-Pesa says the money went back: the books
    must say so, not keep it owed back (a finding that tells an operator to return it again)."""
    from escrow.paybill import PaybillPayment
    from escrow.reversals import ReversalResult, send_reversal
    from mpesa.confirmation_routes import _reversal_status
    needs_postgres(database)
    service, _, _, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio", prompt=False)
    paid = PaybillPayment(trans_id="RVLATE001", amount=order.charge, account=order.reference, shortcode="174379")
    assert service.record_paybill_payment(paid, None, "174379") == "funded"
    service.cancel_order(SELLER, order.reference)
    [reversal] = reversals_of(database, order.reference)
    money_in_gateway = FakeMoneyIn()
    assert send_reversal(database, service.core, money_in_gateway, reversal.id) == "sent"
    failed = reversal_answer(database, service.core, reversal.id, ReversalResult(True, False, "R000001", "failed"))
    status_body = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok",
                              "OriginatorConversationID": "x", "ConversationID": "y", "TransactionID": "RVQ1",
                              "ResultParameters": {"ResultParameter": [
                                  {"Key": "TransactionStatus", "Value": "Reversed"},
                                  {"Key": "Amount", "Value": float(order.charge)},
                                  {"Key": "ReceiptNo", "Value": "RVLATE001"}]}}}
    verdict = _reversal_status(status_body)
    assert verdict.settled and verdict.succeeded
    late = reversal_answer(database, service.core, reversal.id, verdict)
    money_in, money_out = cash_for(database, order.reference)
    [reversal] = reversals_of(database, order.reference)
    assert money_out == money_in == order.charge, (
        f"M-Pesa reversed {order.charge} (status answer after the failure result): failure said {failed!r}, "
        f"'Reversed' said {late!r}; reversal {reversal.status}; cash in {money_in}, out {money_out}; order "
        f"{state_of(database, order.reference)}")
    books_ok(database)
