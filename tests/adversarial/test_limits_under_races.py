"""Per-number limits hold when the requests come all at once.

STK pushes per number per hour keep a number from being flooded with M-Pesa prompts (reliability.md
X9): the pay page's open link, the API and USSD all create orders for a number someone else may
type. Requests sent together each counted the others' orders as not yet there."""
from sqlalchemy import func, select

from escrow.errors import LimitExceeded
from escrow.models import Order, PaymentAttempt
from escrow.service import EscrowService
from tests.adversarial.conftest import needs_postgres, race

VICTIM = "0712345678"
SELLERS = [f"07220001{n:02d}" for n in range(12)]


def count(database, model):
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_simultaneous_orders_for_one_number_stay_within_its_prompts_per_hour(database, core):
    needs_postgres(database)
    service = EscrowService(database, core)
    limit = core.settings.stk_pushes_per_hour
    results = race([lambda seller=seller: service.create_order(buyer=VICTIM, seller=seller, price=100, item="Pen")
                    for seller in SELLERS])
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    assert count(database, PaymentAttempt) <= limit and count(database, Order) <= limit
    assert len(refused) == len(SELLERS) - count(database, Order)
