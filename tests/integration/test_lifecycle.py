"""Every path of an order after it exists, on real databases, with fakes of our own ports."""
import dataclasses
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from escrow import ledger
from escrow.db import utcnow
from escrow.delivery import LIFETIME_WRONG
from escrow.errors import CodeLocked, EscrowError, LimitExceeded, NotAllowed, WrongCode
from escrow.models import Order, OutboxItem, Payout, SmsMessage
from escrow.payouts import PayoutResult
from escrow.reports import ledger_findings
from escrow.service import EscrowService
from escrow.timers import run_timers
from escrow.worker import Worker
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender
from tests.integration.test_escrow_core import BUYER, SELLER, delivery_code, funded_order


@pytest.fixture
def world(database, core):
    gateway, sms = FakePaymentGateway(), FakeSmsSender()
    return EscrowService(database, core), Worker(database, core, gateway, sms), gateway, sms


@pytest.fixture
def busy_world(database, core):
    """Limits raised: the race tests create many orders for one buyer."""
    settings = dataclasses.replace(core.settings, orders_per_hour=1_000, stk_pushes_per_hour=1_000)
    core = dataclasses.replace(core, settings=settings)
    gateway, sms = FakePaymentGateway(), FakeSmsSender()
    return EscrowService(database, core), Worker(database, core, gateway, sms), gateway, sms


def ledger_ok(database):
    with database.transaction() as session:
        violations, _ = ledger_findings(session)
    assert violations == []


def move_deadline(database, column: str):
    with database.transaction() as session:
        session.execute(update(Order).values(**{column: session.scalar(select(utcnow())) - timedelta(seconds=5)}))


def pay_transfers(world, database, succeeded=True):
    """Answer every sent transfer like M-Pesa's result callback would."""
    service, worker, gateway, _ = world
    worker.run_once()
    for payout in gateway.payouts:
        service.record_payout_result(PayoutResult(payout["originator_id"], None, succeeded, "0" if succeeded else "2001",
                                                  "ok", f"RX{len(payout['originator_id'])}{payout['amount']}", None))
    worker.run_once()


def state_of(service, reference, phone=BUYER):
    return service.order_for(phone, reference).state


def test_a_sellers_request_is_accepted_then_paid_by_stk(world):
    service, worker, gateway, sms = world
    order = service.request_payment(seller=SELLER, buyer=BUYER, price=2_000, item="Radio")
    assert order.state == "requested" and order.role == "seller"
    worker.run_once()
    assert order.reference in sms.texts_to(BUYER)[0]
    assert service.order_for(BUYER, order.reference).actions == ("accept", "decline")
    assert service.accept_request(BUYER, order.reference).state == "awaiting_payment"
    worker.run_once()
    assert gateway.pushes[-1]["amount"] == order.charge


def test_only_the_buyer_can_accept_or_decline_a_request(world):
    service = world[0]
    order = service.request_payment(seller=SELLER, buyer=BUYER, price=2_000, item="Radio")
    with pytest.raises(NotAllowed):
        service.accept_request(SELLER, order.reference)
    assert service.decline_request(BUYER, order.reference).state == "declined"


def test_the_buyer_can_cancel_before_paying(world):
    service = world[0]
    order = service.create_order(buyer=BUYER, seller=SELLER, price=700, item="Cap")
    assert service.cancel_order(BUYER, order.reference).state == "cancelled"


def test_a_seller_cancelling_a_funded_order_refunds_the_buyer_in_full(world, database):
    service, _, gateway, sms = world
    order = funded_order(world)
    assert service.cancel_order(SELLER, order.reference).state == "refunding"
    pay_transfers(world, database)
    assert gateway.payouts[0]["amount"] == order.charge and gateway.payouts[0]["phone"] == "254712345678"
    assert state_of(service, order.reference) == "refunded"
    ledger_ok(database)


def test_dispatch_then_a_silent_buyer_is_released_after_the_inspection_window(world, database):
    service, worker, gateway, _ = world
    order = funded_order(world)
    assert service.mark_dispatched(SELLER, order.reference).state == "dispatched"
    move_deadline(database, "release_at")
    worker.run_once()
    assert state_of(service, order.reference) == "released"
    pay_transfers(world, database)
    assert state_of(service, order.reference) == "paid_out"
    ledger_ok(database)


def test_a_funded_order_never_dispatched_is_refunded_at_the_deadline(world, database):
    service, worker, _, _ = world
    order = funded_order(world)
    move_deadline(database, "dispatch_by")
    worker.run_once()
    assert state_of(service, order.reference) == "refunding"
    ledger_ok(database)


def test_an_unpaid_order_expires_and_a_late_payment_is_returned(world, database):
    from escrow.payments import PaymentResult
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=900, item="Lamp")
    worker.run_once()
    move_deadline(database, "pay_by")
    worker.run_once()
    assert state_of(service, order.reference) == "checking_payment"   # the push may still be paid
    checkout = gateway.pushes[-1]["checkout_id"]
    assert service.record_payment_result(PaymentResult(checkout, False, "1037", "DS timeout")) == "failed"
    worker.run_once()
    assert state_of(service, order.reference) == "expired"
    late = PaymentResult(checkout, True, "0", "ok", order.charge, "RCPLATE001")
    assert service.record_payment_result(late) == "refunding"
    worker.run_once()
    assert gateway.payouts[-1]["amount"] == order.charge
    ledger_ok(database)


@pytest.mark.parametrize("outcome,final", [("release", "paid_out"), ("refund", "refunded"), ("split", "settled")])
def test_an_operator_resolves_a_dispute(world, database, outcome, final):
    service = world[0]
    order = funded_order(world, price=1_000)
    assert service.open_dispute(BUYER, order.reference, "damaged").state == "disputed"
    with pytest.raises(EscrowError):  # the payout is frozen: the code no longer releases
        service.check_delivery_code(caller=SELLER, code="123456")
    service.resolve_dispute(order.reference, outcome=outcome, to_seller=600 if outcome == "split" else None,
                            note="photos checked")
    pay_transfers(world, database)
    assert state_of(service, order.reference) == final
    ledger_ok(database)
    with database.transaction() as session:
        paid = session.scalar(select(func.coalesce(func.sum(Payout.amount), 0)).where(Payout.status == "succeeded"))
    assert paid <= order.charge


@pytest.mark.parametrize("outcome, to_seller, english, kiswahili", [
    ("release", None, "the seller is paid KES 985 and the buyer gets no refund",
     "muuzaji analipwa KES 985 na mnunuzi harudishiwi pesa"),
    ("refund", None, "the buyer gets back all KES 1,000 and the seller is not paid",
     "mnunuzi anarudishiwa KES 1,000 yote na muuzaji halipwi"),
    ("split", 600, "the seller gets KES 585, the buyer gets back KES 400. The KES 15 fee is paid by the seller",
     "muuzaji anapata KES 585, mnunuzi anarudishiwa KES 400. Ada ya KES 15 inalipwa na muuzaji"),
])
def test_both_parties_are_told_the_decision_in_their_own_language(world, database, outcome, to_seller, english,
                                                                   kiswahili):
    service, worker, _, sms = world
    service.set_language(BUYER, "sw")
    order = funded_order(world, price=1_000)   # fee 15, paid by the seller
    service.open_dispute(BUYER, order.reference, "damaged")
    service.resolve_dispute(order.reference, outcome=outcome, to_seller=to_seller, note="photos checked")
    worker.run_once()
    [seller_text] = [t for t in sms.texts_to(SELLER) if t.startswith(f"Zemi: Decision on order {order.reference}")]
    [buyer_text] = [t for t in sms.texts_to(BUYER) if t.startswith(f"Zemi: Uamuzi kuhusu oda {order.reference}")]
    assert english in seller_text and kiswahili in buyer_text
    assert "release" not in buyer_text and "refund" not in buyer_text and "split" not in buyer_text
    with database.transaction() as session:
        kinds = session.scalars(select(SmsMessage.kind).where(
            SmsMessage.kind.like("dispute_%"), SmsMessage.kind.not_in(("dispute_opened", "dispute_received")))).all()
    kind = {"release": "dispute_released", "refund": "dispute_refunded", "split": "dispute_split"}[outcome]
    assert kinds == [kind] * 2


def test_a_split_cannot_give_away_more_than_was_paid(world):
    service = world[0]
    order = funded_order(world, price=1_000)
    service.open_dispute(BUYER, order.reference, "wrong_item")
    with pytest.raises(EscrowError):
        service.resolve_dispute(order.reference, outcome="split", to_seller=1_000)


def test_a_fresh_code_replaces_the_old_one_and_lifetime_guesses_stay_bounded(world):
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    old = delivery_code(sms)
    wrong = "000000" if old != "000000" else "111111"
    guesses = 0
    while True:
        try:
            service.check_delivery_code(caller=SELLER, code=wrong)
        except WrongCode:
            guesses += 1
        except CodeLocked:
            guesses += 1
            try:
                service.reissue_code(BUYER, order.reference)
                worker.run_once()
            except NotAllowed:
                break
    assert guesses == LIFETIME_WRONG
    assert LIFETIME_WRONG / 10 ** 6 < 1 / 100_000  # the bound the design promises
    with pytest.raises((CodeLocked, WrongCode)):
        service.check_delivery_code(caller=SELLER, code=old)  # the first code was replaced


def test_stk_pushes_per_number_are_limited(world, core):
    service = world[0]
    order = service.create_order(buyer=BUYER, seller=SELLER, price=500, item="Bag")
    for _ in range(core.settings.stk_pushes_per_hour - 1):
        service.pay_again(BUYER, order.reference)
    with pytest.raises(LimitExceeded) as error:
        service.pay_again(BUYER, order.reference)
    assert error.value.limit == "stk_pushes_per_hour"


def test_timers_fire_once_even_when_run_twice(world, database, core):
    service = world[0]
    order = service.create_order(buyer=BUYER, seller=SELLER, price=900, item="Lamp")
    move_deadline(database, "pay_by")
    assert run_timers(database, core) == 1
    assert run_timers(database, core) == 0
    assert state_of(service, order.reference) == "expired"


def _race(database, actions):
    """Run the actions at the same moment on separate threads; return what each raised or returned."""
    barrier, results = threading.Barrier(len(actions)), [None] * len(actions)

    def run(index, action):
        barrier.wait()
        try:
            results[index] = action()
        except Exception as error:  # the loser's refusal is part of the result
            results[index] = error
    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
def test_confirm_and_cancel_racing_have_exactly_one_winner(busy_world, database):
    if database.dialect != "postgresql":
        pytest.skip("row-level races need PostgreSQL (SQLite serializes every writer)")
    service, worker, _, sms = busy_world
    for _ in range(15):
        order = funded_order(busy_world)
        worker.run_once()
        service.accept_order(SELLER, order.reference)
        match = service.check_delivery_code(caller=BUYER, code=delivery_code(sms))
        results = _race(database, [
            lambda: service.confirm_delivery(caller=BUYER, reference=order.reference, token=match.token),
            lambda: service.cancel_order(SELLER, order.reference)])
        winners = [r for r in results if not isinstance(r, Exception)]
        assert len(winners) == 1
        assert state_of(service, order.reference) in ("released", "refunding")
        sms.sent.clear()
    ledger_ok(database)


@pytest.mark.postgres
def test_two_workers_fire_each_timer_once(busy_world, database, core):
    if database.dialect != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")
    service = busy_world[0]
    for _ in range(8):
        service.create_order(buyer=BUYER, seller=SELLER, price=900, item="Lamp")
    move_deadline(database, "pay_by")
    fired = _race(database, [lambda: run_timers(database, core), lambda: run_timers(database, core)])
    assert sum(fired) == 8


@pytest.mark.postgres
def test_a_payment_racing_the_expiry_timer_is_funded_or_returned_never_lost(busy_world, database, core):
    from escrow.payments import PaymentResult
    if database.dialect != "postgresql":
        pytest.skip("row-level races need PostgreSQL")
    service, worker, gateway, _ = busy_world
    for round_ in range(10):
        order = service.create_order(buyer=BUYER, seller=SELLER, price=900, item="Lamp")
        worker.run_once()
        with database.transaction() as session:
            session.execute(update(Order).where(Order.reference == order.reference)
                            .values(pay_by=session.scalar(select(utcnow())) - timedelta(seconds=1)))
        paid = PaymentResult(gateway.pushes[-1]["checkout_id"], True, "0", "ok", order.charge, f"RCPRACE{round_:03d}")
        outcome, fired = _race(database, [lambda: service.record_payment_result(paid),
                                          lambda: run_timers(database, core)])
        state = state_of(service, order.reference)
        assert (outcome, state) in {("funded", "funded"), ("refunding", "expired")}, (outcome, fired, state)
    ledger_ok(database)
