"""Issue 14: money goes only to a seller who acted on the order from their own line, refunds and
decisions say who gets what and why, and dates are East Africa Time in the reader's language."""
import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from escrow.catalog import when
from escrow.errors import NotAllowed, SellerNotAccepted
from escrow.greeting import QueuedDial, Welcome
from escrow.models import Order, OrderEvent, SmsMessage
from escrow.service import EscrowService
from escrow.timers import run_timers
from escrow.worker import Worker
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender
from tests.integration.test_escrow_core import BUYER, SELLER, delivery_code, funded_order
from tests.integration.test_lifecycle import move_deadline, state_of


def make_world(database, core, **settings):
    core = dataclasses.replace(core, settings=dataclasses.replace(core.settings, **settings))
    gateway, sms = FakePaymentGateway(), FakeSmsSender()
    return EscrowService(database, core), Worker(database, core, gateway, sms), gateway, sms


@pytest.fixture
def world(database, core):
    return make_world(database, core)


def sms_kinds(database, order):
    with database.transaction() as session:
        return session.scalars(select(SmsMessage.kind).where(SmsMessage.order_id == _id(session, order))
                               .order_by(SmsMessage.id)).all()


def _id(session, order):
    return session.scalar(select(Order.id).where(Order.reference == order.reference))


def test_a_buyer_cannot_release_to_a_seller_who_never_accepted(world, database):
    service, worker, gateway, sms = world
    order = funded_order(world)
    worker.run_once()
    with pytest.raises(SellerNotAccepted):
        service.check_delivery_code(caller=BUYER, code=delivery_code(sms))
    assert state_of(service, order.reference) == "funded"
    assert "confirm_delivery" not in service.order_for(BUYER, order.reference).actions
    assert service.order_for(SELLER, order.reference).actions == ("accept_order", "cancel")
    assert gateway.payouts == []


def test_once_the_seller_accepts_the_buyer_may_release_and_accepting_twice_is_one_event(world, database):
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    service.accept_order(SELLER, order.reference)
    service.accept_order(SELLER, order.reference)
    assert service.order_for(BUYER, order.reference).seller_accepted
    match = service.check_delivery_code(caller=BUYER, code=delivery_code(sms))
    assert service.confirm_delivery(caller=BUYER, reference=order.reference, token=match.token).state == "released"
    with database.transaction() as session:
        events = session.scalars(select(OrderEvent.event).where(OrderEvent.event == "seller_accepted")).all()
    assert events == ["seller_accepted"]


def test_only_the_seller_can_accept_and_only_a_paid_order(world):
    service = world[0]
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio")
    with pytest.raises(NotAllowed):
        service.accept_order(SELLER, order.reference)   # not paid yet
    paid = funded_order(world)
    with pytest.raises(NotAllowed):
        service.accept_order(BUYER, paid.reference)


@pytest.mark.parametrize("how", ["seller_enters_code", "payment_request", "marked_sent"])
def test_a_seller_who_acted_from_their_line_can_be_paid(world, how):
    service, worker, gateway, sms = world
    if how == "payment_request":
        order = service.request_payment(seller=SELLER, buyer=BUYER, price=1_000, item="Radio")
        service.accept_request(BUYER, order.reference)
        worker.run_once()
        from escrow.payments import PaymentResult
        service.record_payment_result(PaymentResult(gateway.pushes[-1]["checkout_id"], True, "0", "ok",
                                                    order.charge, "RQA0000001"))
    else:
        order = funded_order(world)
    worker.run_once()
    if how == "marked_sent":
        service.mark_dispatched(SELLER, order.reference)
    caller = SELLER if how == "seller_enters_code" else BUYER
    match = service.check_delivery_code(caller=caller, code=delivery_code(sms))
    assert service.confirm_delivery(caller=caller, reference=order.reference, token=match.token).state == "released"


def test_an_order_the_seller_never_accepts_is_refunded_at_the_dispatch_deadline_and_the_buyer_told(world, database):
    service, worker, gateway, sms = world
    order = funded_order(world)
    worker.run_once()
    move_deadline(database, "dispatch_by")
    run_timers(database, service.core)
    worker.run_once()
    assert state_of(service, order.reference) == "refunding"
    assert [p["amount"] for p in gateway.payouts] == [order.charge]
    [refund_text] = [t for t in sms.texts_to(BUYER) if "refunded" in t]
    assert "did not accept or send" in refund_text and SELLER in refund_text


def test_a_seller_cancelling_a_paid_order_refunds_the_buyer_with_the_reason(world, database):
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    service.cancel_order(SELLER, order.reference)
    worker.run_once()
    assert "refund_seller_cancelled" in sms_kinds(database, order)
    assert any("cancelled order" in text and "fee included" in text for text in sms.texts_to(BUYER))


def test_a_buyer_cancelling_an_unpaid_order_the_seller_never_heard_of_tells_the_seller_nothing(world, database):
    service = world[0]
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio")
    service.cancel_order(BUYER, order.reference)
    assert "order_cancelled" not in sms_kinds(database, order)
    request = service.request_payment(seller=SELLER, buyer=BUYER, price=1_000, item="Radio")
    service.accept_request(BUYER, request.reference)
    service.cancel_order(BUYER, request.reference)
    assert "order_cancelled" in sms_kinds(database, request)


def test_a_report_is_acknowledged_and_the_seller_told_the_reason(world, database):
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    service.open_dispute(BUYER, order.reference, "damaged")
    worker.run_once()
    assert any("We got your report" in text and "2 working days" in text for text in sms.texts_to(BUYER))
    assert any(": damaged." in text for text in sms.texts_to(SELLER))


def test_a_refund_decision_is_not_preceded_by_a_refund_sms(world, database):
    service, worker, _, _ = world
    order = funded_order(world)
    service.open_dispute(BUYER, order.reference, "not_received")
    service.resolve_dispute(order.reference, outcome="refund", note="never arrived")
    kinds = sms_kinds(database, order)
    assert "refund_queued" not in kinds and kinds[-2:] == ["dispute_refunded", "dispute_refunded"]


@pytest.mark.parametrize("fee_payer, charge, to_seller, to_buyer", [
    ("seller", 800, 388, 400),   # the example: the seller's fee comes from the seller's share
    ("buyer", 812, 400, 400),    # the buyer paid the fee on top: both get 400, the 12 is kept
])
def test_a_split_takes_the_fee_from_the_party_fee_payer_names(database, core, fee_payer, charge, to_seller, to_buyer):
    world = make_world(database, core, fee_payer=fee_payer)
    service, worker, gateway, sms = world
    order = funded_order(world, price=800)
    assert order.charge == charge and order.fee == 12
    service.open_dispute(BUYER, order.reference, "damaged")
    service.resolve_dispute(order.reference, outcome="split", to_seller=400, note="half each")
    worker.run_once()
    amounts = sorted((p["phone"][-9:], p["amount"]) for p in gateway.payouts)
    assert amounts == sorted([(SELLER[-9:], to_seller), (BUYER[-9:], to_buyer)])
    assert any(f"the seller gets KES {to_seller}, the buyer gets back KES {to_buyer}" in text
               for text in sms.texts_to(SELLER))


def test_deadlines_are_east_africa_time_with_kiswahili_months(world, database):
    service, worker, _, sms = world
    service.set_language(BUYER, "sw")
    order = funded_order(world)
    worker.run_once()
    service.mark_dispatched(SELLER, order.reference)
    worker.run_once()
    with database.transaction() as session:
        release_at = session.scalar(select(Order.release_at).where(Order.reference == order.reference))
    [text] = [t for t in sms.texts_to(BUYER) if "imetumwa" in t]
    assert when("sw", release_at) in text
    assert when("sw", datetime(2026, 9, 23, 21, 30)) == "24 Septemba 00:30"
    assert when("en", datetime(2026, 11, 23, 11, 5)) == "23 Nov 14:05"


def test_a_number_is_greeted_as_new_until_its_first_dial_is_recorded_and_keeps_its_language(world):
    service = world[0]
    first = service.welcome(BUYER)
    assert (first.language, first.first) == ("en", True)
    assert service.welcome(BUYER).first              # nothing written by the greeting itself
    assert service.record_first_dials([QueuedDial(first.key, timedelta(seconds=2))]) == 1
    assert service.record_first_dials([QueuedDial(first.key, timedelta(seconds=1))]) == 0   # once
    assert service.welcome(BUYER) == Welcome("en", False)
    service.set_language(SELLER, "sw")
    assert service.welcome(SELLER) == Welcome("sw", False)


def test_the_parties_see_each_others_number_in_full_and_operators_see_it_masked(world, database):
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    [held] = [text for text in sms.texts_to(SELLER) if "is held" in text]
    assert "0712345678" in held and f"*384*1234*3*{order.reference}#" in held
    with database.transaction() as session:
        stored = session.scalar(select(SmsMessage.body_redacted).where(SmsMessage.kind == "held_to_seller"))
    assert "0712***678" in stored and "0712345678" not in stored
    assert service.order_for(SELLER, order.reference).counterpart == "0712345678"
