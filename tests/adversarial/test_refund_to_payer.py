"""A refund goes back to whoever paid, not to the number the order names as buyer.

A paybill payment's payer arrives masked: anyone can pay an order's account number. Returns of
money an order could not take already go back by Reversal on the TransID (issue 11 finding 3), but a
refund of a funded order (the seller cancels, the dispatch deadline passes, a dispute is refunded,
an operator cancels) went by B2C to the order's buyer. A fraudster ordering as the buyer from an
accomplice (or their own second line) has a victim pay the account number "for the goods"; the
accomplice cancels; the victim's money is sent by B2C to the fraudster. It goes back by Reversal
instead, to the line it came from (the buyer, when they paid it themselves)."""
from sqlalchemy import select

from escrow.models import Payout, Reversal
from escrow.paybill import PaybillPayment
from escrow.reversals import ReversalResult, record_reversal_result
from tests.adversarial.conftest import books_ok
from tests.integration.test_escrow_core import BUYER, SELLER


def test_a_paybill_funded_order_cancelled_by_its_seller_is_reversed_to_the_payer(world, database):
    service = world[0]
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio", prompt=False)
    paid = PaybillPayment(trans_id="SL1VICTIM1", amount=order.charge, account=order.reference, shortcode="174379")
    assert service.record_paybill_payment(paid, None, "174379") == "funded"
    service.cancel_order(SELLER, order.reference)
    with database.transaction() as session:
        assert session.scalars(select(Payout).where(Payout.purpose == "refund")).all() == []
        [reversal] = session.scalars(select(Reversal)).all()
        assert (reversal.trans_id, reversal.amount) == ("SL1VICTIM1", order.charge)
        assert record_reversal_result(session, service.core, reversal.id,
                                      ReversalResult(True, True, "0", "reversed")) == "succeeded"
    assert service.order_for(BUYER, order.reference).state == "refunded"
    books_ok(database)


def test_an_stk_funded_order_is_still_refunded_by_b2c_to_the_number_that_paid(world, database):
    """An STK payment came from the number we pushed to: the buyer's. B2C to it is to the payer."""
    from tests.integration.test_escrow_core import funded_order
    service, worker, _, _ = world
    order = funded_order(world)
    service.cancel_order(SELLER, order.reference)
    with database.transaction() as session:
        assert [p.amount for p in session.scalars(select(Payout).where(Payout.purpose == "refund"))] == [order.charge]
        assert session.scalars(select(Reversal)).all() == []
