"""The core's use cases end to end, against real databases and fakes of our own ports."""
import itertools
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from escrow import ledger
from escrow.errors import CodeLocked, InvalidTransition, WrongCode
from escrow.models import JournalEntry, Order, OrderEvent, OutboxItem, PaymentAttempt, Payout, SmsMessage
from escrow.payments import PaymentResult
from escrow.payouts import PayoutResult
from escrow.ports import GatewayError
from escrow.reports import ledger_findings
from escrow.service import EscrowService
from escrow.worker import Worker
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender

BUYER, SELLER = "0712345678", "0722000111"


@pytest.fixture
def world(database, core):
    gateway, sms = FakePaymentGateway(), FakeSmsSender()
    service = EscrowService(database, core)
    return service, Worker(database, core, gateway, sms), gateway, sms


RECEIPTS = itertools.count(1)


def funded_order(world, price=1_000):
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=price, item="Blue kitenge")
    worker.run_once()
    checkout_id = gateway.pushes[-1]["checkout_id"]
    receipt = f"RCP{next(RECEIPTS):07d}"
    outcome = service.record_payment_result(PaymentResult(checkout_id, True, "0", "ok", order.charge, receipt))
    assert outcome == "funded"
    return order


def delivery_code(sms: FakeSmsSender) -> str:
    return re.search(r"Delivery code: (\d{6})", " ".join(sms.texts_to(BUYER))).group(1)


def count(database, model, *where):
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_new_order_waits_for_payment_and_queues_a_delayed_stk_push(database, core):
    core = type(core)(settings=type(core.settings)(stk_delay_seconds=3), vault=core.vault)
    order = EscrowService(database, core).create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Shoes")
    assert order.state == "awaiting_payment" and len(order.reference) == 8
    with database.transaction() as session:
        item = session.scalar(select(OutboxItem).where(OutboxItem.kind == "stk_push"))
        pay_by = session.scalar(select(Order.pay_by))
    # the push is due 3 s after the clock the order was made on (pay_by is that clock plus the unpaid TTL);
    # created_at is the INSERT's own time, later than that clock on SQLite when the machine is slow
    made_on = pay_by - timedelta(seconds=core.settings.unpaid_ttl_seconds)
    assert (item.due_at - made_on).total_seconds() == 3
    worker = Worker(database, core, FakePaymentGateway(), FakeSmsSender())
    assert worker.run_once() == 0  # not due yet: the USSD session must end first


def test_payment_funds_the_order_and_texts_both_parties(world, database):
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    assert service.order_for(BUYER, order.reference).state == "funded"
    code = delivery_code(sms)
    assert not any(code in text for text in sms.texts_to(SELLER))
    assert "Blue kitenge, order" in sms.texts_to(SELLER)[0] and "KES 1,000 is held" in sms.texts_to(SELLER)[0]
    with database.transaction() as session:
        assert ledger.held_for(session, 1) == 1_000
        redacted = session.scalars(select(SmsMessage.body_redacted)).all()
    assert all(code not in body for body in redacted) and any("******" in body for body in redacted)


def test_a_repeated_payment_callback_has_no_second_effect(world, database):
    service, _, gateway, _ = world
    order = funded_order(world)
    with database.transaction() as session:
        receipt = session.scalar(select(PaymentAttempt.receipt).where(PaymentAttempt.status == "succeeded"))
    again = PaymentResult(gateway.pushes[-1]["checkout_id"], True, "0", "ok", order.charge, receipt)
    for _ in range(3):
        assert service.record_payment_result(again) == "duplicate"
    assert count(database, JournalEntry) == 1
    assert count(database, SmsMessage) == 2


def test_a_wrong_amount_goes_to_suspense_and_review_not_funding(world, database):
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Shoes")
    worker.run_once()
    result = PaymentResult(gateway.pushes[-1]["checkout_id"], True, "0", "ok", 999, "RCPSHORT01")
    assert service.record_payment_result(result) == "suspense"
    assert service.order_for(BUYER, order.reference).state == "needs_review"
    with database.transaction() as session:
        assert ledger.balance(session, ledger.SUSPENSE) == -999
        assert ledger.held_for(session, 1) == 0


def test_a_callback_for_an_unknown_checkout_is_an_orphan(world, database):
    service = world[0]
    assert service.record_payment_result(PaymentResult("ws_CO_nope", True, "0", "ok", 10, "RCPORPHAN1")) == "orphan"
    assert count(database, JournalEntry) == 0


def test_a_second_payment_for_a_funded_order_is_returned_to_the_buyer(world, database):
    service, worker, gateway, _ = world
    order = funded_order(world)
    with database.transaction() as session:
        from escrow.ordering import queue_payment_request
        from escrow.models import Order
        queue_payment_request(session, service.core, session.get(Order, 1), delay_seconds=0)
    worker.run_once()  # the attempt is refused: the order is no longer payable
    with database.transaction() as session:
        session.execute(update(PaymentAttempt).where(PaymentAttempt.id == 2)
                        .values(status="sent", checkout_request_id="ws_CO_late"))
    late = PaymentResult("ws_CO_late", True, "0", "ok", order.charge, "RCPSECOND1")
    assert service.record_payment_result(late) == "refunding"
    worker.run_once()
    assert gateway.payouts[-1]["amount"] == order.charge
    assert count(database, Payout, Payout.purpose == "return") == 1


def test_a_failed_stk_result_leaves_the_order_payable(world):
    service, worker, gateway, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=500, item="Bag")
    worker.run_once()
    failed = PaymentResult(gateway.pushes[-1]["checkout_id"], False, "1032", "Request cancelled by user")
    assert service.record_payment_result(failed) == "failed"
    assert service.record_payment_result(failed) == "duplicate"
    assert service.order_for(BUYER, order.reference).state == "awaiting_payment"


def test_the_right_code_releases_and_the_payout_result_closes_the_order(world, database):
    service, worker, gateway, sms = world
    order = funded_order(world)
    worker.run_once()
    match = service.check_delivery_code(caller=SELLER, code=delivery_code(sms))
    assert match.order.reference == order.reference and match.order.role == "seller"
    assert service.confirm_delivery(caller=SELLER, reference=order.reference, token=match.token).state == "released"
    with pytest.raises(InvalidTransition):  # a second confirm finds nothing left to release
        service.confirm_delivery(caller=SELLER, reference=order.reference, token=match.token)
    worker.run_once()
    payout = gateway.payouts[-1]
    assert payout["amount"] == order.payout and payout["phone"] == "254722000111"
    result = PayoutResult(payout["originator_id"], None, True, "0", "ok", "SG632NMUAB", order.payout)
    assert service.record_payout_result(result) == "succeeded"
    assert service.record_payout_result(result) == "duplicate"
    worker.run_once()
    assert service.order_for(SELLER, order.reference).state == "paid_out"
    assert "SG632NMUAB" in sms.texts_to(SELLER)[-1]
    with database.transaction() as session:
        violations, _ = ledger_findings(session)
        assert violations == []
        assert ledger.balance(session, ledger.FEE_REVENUE) == -order.fee
        assert ledger.balance(session, ledger.MPESA_CASH) == order.fee


def test_wrong_codes_are_counted_and_lock_the_order_after_five(world, database):
    service, worker, _, sms = world
    funded_order(world)
    worker.run_once()
    right = delivery_code(sms)
    wrong = "000000" if right != "000000" else "111111"
    for remaining in (4, 3, 2, 1):
        with pytest.raises(WrongCode) as error:
            service.check_delivery_code(caller=SELLER, code=wrong)
        assert error.value.remaining == remaining
    with pytest.raises(CodeLocked):
        service.check_delivery_code(caller=SELLER, code=wrong)
    with pytest.raises(CodeLocked):  # even the right code: the lock holds
        service.check_delivery_code(caller=SELLER, code=right)


def test_a_payout_that_timed_out_is_queried_never_resent(world, database):
    service, worker, gateway, sms = world
    order = funded_order(world)
    worker.run_once()
    service.accept_order(SELLER, order.reference)   # the buyer may release only to a seller who accepted
    match = service.check_delivery_code(caller=BUYER, code=delivery_code(sms))
    service.confirm_delivery(caller=BUYER, reference=order.reference, token=match.token)
    gateway.fail_next = GatewayError("read timeout", ambiguous=True, retryable=False)
    worker.run_once()
    assert gateway.payouts == []
    with database.transaction() as session:
        assert session.scalar(select(Payout.status)) == "unknown"
        session.execute(update(OutboxItem).values(due_at=OutboxItem.created_at))  # make the status check due
    worker.run_once()
    assert gateway.payouts == [] and len(gateway.payout_queries) == 1


def test_a_payout_found_mid_send_after_a_crash_becomes_unknown(world, database):
    service, worker, gateway, sms = world
    order = funded_order(world)
    worker.run_once()
    service.accept_order(SELLER, order.reference)   # the buyer may release only to a seller who accepted
    match = service.check_delivery_code(caller=BUYER, code=delivery_code(sms))
    service.confirm_delivery(caller=BUYER, reference=order.reference, token=match.token)
    with database.transaction() as session:  # as if a worker died between 'sending' and the reply
        session.execute(update(Payout).values(status="sending"))
    worker.run_once()
    assert gateway.payouts == []
    with database.transaction() as session:
        assert session.scalar(select(Payout.status)) == "unknown"


def test_every_transition_is_recorded_in_the_timeline(world, database):
    funded_order(world)
    with database.transaction() as session:
        events = session.scalars(select(OrderEvent.event).order_by(OrderEvent.id)).all()
    assert events == ["order_created", "payment_received"]
