"""A paybill payer's number arrives masked: money they sent is returned by Reversal on its TransID,
never by B2C to a number we only guess (issue 11 finding 3). That holds when an operator returns a
mismatched paybill payment held in suspense (`flask orders refund-review`), too: the order's buyer
is not necessarily who paid its account number."""
from sqlalchemy import select

from escrow.models import Payout, Reversal
from escrow.paybill import PaybillPayment
from escrow.reversals import ReversalResult, record_reversal_result
from tests.adversarial.conftest import books_ok
from tests.integration.test_escrow_core import BUYER, SELLER


def test_a_reviewed_paybill_payment_goes_back_by_reversal_to_whoever_paid(world, database):
    service = world[0]
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Radio")
    wrong = PaybillPayment(trans_id="SL1PAYB001", amount=order.charge + 300, account=order.reference,
                           shortcode="174379")
    assert service.record_paybill_payment(wrong, None, "174379") == "suspense"
    assert service.order_for(BUYER, order.reference).state == "needs_review"
    service.refund_review(order.reference, note="paid the wrong amount")
    with database.transaction() as session:
        assert session.scalars(select(Payout)).all() == []
        [reversal] = session.scalars(select(Reversal)).all()
        assert (reversal.trans_id, reversal.amount) == ("SL1PAYB001", order.charge + 300)
        assert record_reversal_result(session, service.core, reversal.id,
                                      ReversalResult(True, True, "0", "reversed")) == "succeeded"
    assert service.order_for(BUYER, order.reference).state == "refunded"
    books_ok(database)
