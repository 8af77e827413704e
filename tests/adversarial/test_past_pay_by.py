"""Nothing is paid into an order after its time to pay has passed, whatever the timer has done yet.

The timer expires a request or an unpaid order at its pay-by, at its next pass. In between, the buyer
could still accept a request (which set a fresh pay-by: a request the seller saw expire came back to
life) or ask for another prompt, and pay into an order about to be expired. Past pay-by both are
refused; the timer expires the order as it would have."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from escrow.db import utcnow
from escrow.errors import EscrowError
from escrow.models import Order, PaymentAttempt
from escrow.timers import run_timers
from tests.integration.test_escrow_core import BUYER, SELLER


def pay_by_passed(database, reference: str) -> None:
    with database.transaction() as session:
        session.execute(update(Order).where(Order.reference == reference)
                        .values(pay_by=session.scalar(select(utcnow())) - timedelta(seconds=1)))


def prompts(database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(PaymentAttempt))


def test_a_request_past_its_pay_by_cannot_be_accepted_and_then_expires(world, database):
    service = world[0]
    order = service.request_payment(seller=SELLER, buyer=BUYER, price=1_000, item="Radio")
    pay_by_passed(database, order.reference)
    with pytest.raises(EscrowError):
        service.accept_request(BUYER, order.reference)
    assert prompts(database) == 0
    run_timers(database, service.core)
    assert service.order_for(BUYER, order.reference).state == "expired"


def test_no_new_prompt_for_an_order_past_its_pay_by(world, database):
    service, worker, _, _ = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio")
    worker.run_once()
    before = prompts(database)
    pay_by_passed(database, order.reference)
    with pytest.raises(EscrowError):
        service.pay_again(BUYER, order.reference)
    assert prompts(database) == before
