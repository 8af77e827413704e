"""Every way an order's held money can leave, fired at the same moment: the buyer confirming
delivery (USSD and API share the use case), the buyer disputing, the seller cancelling and the
inspection timer releasing. Exactly one wins; the money leaves once, to one side."""
import re
from datetime import timedelta

from sqlalchemy import func, select, update

from escrow.db import utcnow
from escrow.models import JournalEntry, Order, Payout
from escrow.timers import run_timers
from tests.adversarial.conftest import books_ok, needs_postgres, race
from tests.integration.test_escrow_core import BUYER, SELLER, funded_order

RESOLUTIONS = ("release", "refund_decision")


def latest_code(sms) -> str:
    return re.findall(r"Delivery code: (\d{6})", " ".join(sms.texts_to(BUYER)))[-1]


def test_confirm_dispute_cancel_and_the_timer_racing_move_the_money_once(world, database):
    needs_postgres(database)
    service, worker, _, sms = world
    for _ in range(6):
        order = funded_order(world)
        worker.run_once()
        service.mark_dispatched(SELLER, order.reference)
        match = service.check_delivery_code(caller=BUYER, code=latest_code(sms))
        with database.transaction() as session:   # the inspection window has just closed
            session.execute(update(Order).where(Order.reference == order.reference)
                            .values(release_at=session.scalar(select(utcnow())) - timedelta(seconds=1)))
        race([lambda: service.confirm_delivery(caller=BUYER, reference=order.reference, token=match.token),
              lambda: service.open_dispute(BUYER, order.reference, "damaged"),
              lambda: service.cancel_order(SELLER, order.reference),
              lambda: run_timers(database, service.core)])
        with database.transaction() as session:
            order_id = session.scalar(select(Order.id).where(Order.reference == order.reference))
            state = session.scalar(select(Order.state).where(Order.id == order_id))
            resolutions = session.scalar(select(func.count()).select_from(JournalEntry).where(
                JournalEntry.order_id == order_id, JournalEntry.kind.in_(RESOLUTIONS)))
            transfers = session.scalar(select(func.count()).select_from(Payout).where(Payout.order_id == order_id))
        assert state in ("released", "refunding", "disputed")
        assert resolutions == (0 if state == "disputed" else 1) and transfers == resolutions
        worker.run_once()
    books_ok(database)
