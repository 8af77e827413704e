"""Guessing a delivery code: the attempt limits hold when the guesses come all at once.

The seller is a party to the order and wants the money without delivering: each guess that is
compared with the code is a 1 in 10**6 chance, so the number compared must stay within the limits
(MAX_WRONG_PER_ORDER per code, MAX_WRONG_PER_CALLER_PER_DAY per number) however the guesses arrive."""
from sqlalchemy import func, select

from escrow.delivery import MAX_WRONG_PER_CALLER_PER_DAY, MAX_WRONG_PER_ORDER
from escrow.models import CodeAttempt
from tests.adversarial.conftest import books_ok, needs_postgres, race
from tests.integration.test_escrow_core import SELLER, delivery_code, funded_order


def compared_guesses(database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(CodeAttempt).where(CodeAttempt.succeeded.is_(False)))


def wrong_codes(real: str, count: int) -> list[str]:
    return [code for code in (f"{n:06d}" for n in range(count + 1)) if code != real][:count]


def test_simultaneous_wrong_codes_are_compared_no_more_than_the_per_code_limit(world, database):
    needs_postgres(database)
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    guesses = wrong_codes(delivery_code(sms), 16)
    race([lambda code=code: service.check_delivery_code(caller=SELLER, code=code) for code in guesses])
    assert compared_guesses(database) <= MAX_WRONG_PER_ORDER
    assert service.order_for(SELLER, order.reference).state == "funded"
    books_ok(database)


def test_simultaneous_wrong_codes_over_several_orders_stay_within_the_daily_limit_of_a_number(world, database):
    """Three orders open at once: the per-code limit allows 15 guesses in all, the number's own 10."""
    needs_postgres(database)
    service, worker, _, sms = world
    for _ in range(3):
        funded_order(world)
    worker.run_once()
    guesses = wrong_codes("-", 16)
    race([lambda code=code: service.check_delivery_code(caller=SELLER, code=code) for code in guesses])
    assert compared_guesses(database) <= MAX_WRONG_PER_CALLER_PER_DAY
