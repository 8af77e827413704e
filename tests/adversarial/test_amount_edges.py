"""What the buyer is asked to pay is an amount M-Pesa can carry.

With FEE_PAYER=buyer the fee goes on top of the price, and ORDER_MAX (M-Pesa's KES 250,000 a
transaction) bounded only the price: an order for KES 250,000 charged KES 251,000, which no STK push
or paybill payment can carry, and which a callback parser refuses as beyond M-Pesa's own ceiling
(escrow/money.py). The order could never be paid; the buyer was prompted for an amount M-Pesa refuses.
The charge, not only the price, stays within M-Pesa's limit."""
import dataclasses

import pytest

from escrow.errors import LimitExceeded
from escrow.fees import quote
from escrow.money import MPESA_AMOUNT_CEILING
from escrow.settings import EscrowSettings


@pytest.mark.parametrize("fee_payer", ["buyer", "seller"])
def test_no_quote_asks_more_than_one_mpesa_transaction_carries(fee_payer):
    settings = dataclasses.replace(EscrowSettings(), fee_payer=fee_payer)
    for price in (settings.order_max - 2_000, settings.order_max - 1, settings.order_max):
        try:
            terms = quote(price, settings)
        except LimitExceeded as refused:
            assert refused.limit == "order_max"
            continue
        assert terms.charge <= MPESA_AMOUNT_CEILING and terms.payout + terms.fee == terms.charge
        assert terms.payout >= 1
