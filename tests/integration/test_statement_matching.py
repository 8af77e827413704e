"""Statement matching in the core, on real databases: till mode (no account reference) matches a
payment funded on an STK query's word by amount, time and the buyer's number when given in clear,
and a line that fits two such payments is neither matched nor posted as new money."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from escrow.db import db_now
from escrow.models import InboundCallback, PaymentAttempt, PaymentReceived, StatementLine
from escrow.ports import PaymentStatus
from escrow.reconcile import apply_payment_query
from escrow.service import EscrowService
from escrow.statement.match import apply_line
from escrow.statement.runs import StatementEntry, start_run
from escrow.worker import Worker
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender

SELLER = "0722000111"


@pytest.fixture
def world(database, core):
    return EscrowService(database, core), Worker(database, core, FakePaymentGateway(), FakeSmsSender()), database


def query_funded(world, buyer, price=1_000):
    """An order funded on an STK query's word: receipt QRY-<attempt id>."""
    service, worker, database = world
    service.create_order(buyer=buyer, seller=SELLER, price=price, item="Radio")
    worker.run_once()
    with database.transaction() as session:
        attempt = session.scalars(select(PaymentAttempt).order_by(PaymentAttempt.id.desc())).first()
        assert apply_payment_query(session, service.core, attempt.id, PaymentStatus(False, "0", "paid")) == "funded"
        return session.scalar(select(PaymentReceived).where(PaymentReceived.attempt_id == attempt.id))


def till_line(session, receipt, amount, party=""):
    return StatementEntry(shortcode="5555555", receipt=receipt, at=db_now(session), kind="CustomerBuyGoodsOnline",
                          amount=amount, account="", party=party)


def apply(world, entry_of):
    service, _, database = world
    with database.transaction() as session:
        run_id = start_run(session, shortcode="5555555", window_start=db_now(session) - timedelta(hours=1),
                           window_end=db_now(session))
        return apply_line(session, service.core, entry_of(session), run_id)


def count(database, model, *where):
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_in_till_mode_a_query_funded_payment_is_matched_by_amount_time_and_number(world):
    payment = query_funded(world, "0711000301")
    query_funded(world, "0711000302")                      # same amount, another buyer
    database = world[2]
    outcome = apply(world, lambda s: till_line(s, "TILL000001", payment.amount, party="254711000301"))
    assert outcome == "matched"
    with database.transaction() as session:
        assert session.scalar(select(StatementLine.payment_id)) == payment.id
        assert session.get(PaymentAttempt, payment.attempt_id).receipt == "TILL000001"
    assert count(database, PaymentReceived) == 2


def test_in_till_mode_a_line_that_fits_two_payments_is_a_finding_never_new_money(world):
    first = query_funded(world, "0711000303")
    query_funded(world, "0711000304")
    database = world[2]
    outcome = apply(world, lambda s: till_line(s, "TILL000002", first.amount, party="2547*****303"))
    assert outcome == "finding"
    assert count(database, PaymentReceived) == 2            # nothing posted
    assert count(database, InboundCallback, InboundCallback.dedupe_key == "finding:statement-ambiguous:TILL000002") == 1
    with database.transaction() as session:
        assert session.scalar(select(StatementLine.status)) == "finding"


def test_each_take_is_matched_to_the_push_it_answered_not_to_a_later_query_funded_one(world):
    """An order pushed twice: the first push's checkout id was never recorded (it stays in doubt), the
    second was funded by an STK query. The first take answered the first push: it is that push's late
    callback (here: money the funded order cannot take, owed back), and the second take is the
    query-funded payment, whose real receipt is noted. (The simulation found them crossed.)"""
    from sqlalchemy import update
    from escrow.db import insert_row
    service, worker, database = world
    view = service.create_order(buyer="0711000305", seller=SELLER, price=1_000, item="Radio")
    worker.run_once()
    with database.transaction() as session:
        now = db_now(session)
        first = session.scalars(select(PaymentAttempt)).one()
        session.execute(update(PaymentAttempt).where(PaymentAttempt.id == first.id).values(
            status="unknown", checkout_request_id=None, created_at=now - timedelta(minutes=10)))
        second = insert_row(session, PaymentAttempt, order_id=first.order_id, amount=first.amount, status="sent",
                            checkout_request_id="ws_CO_second", created_at=now - timedelta(minutes=5),
                            updated_at=now - timedelta(minutes=5))
        assert apply_payment_query(session, service.core, second, PaymentStatus(False, "0", "paid")) == "funded"

    def line(receipt, minutes_ago):
        return lambda s: StatementEntry(shortcode="174379", receipt=receipt, at=db_now(s) - timedelta(minutes=minutes_ago),
                                        kind="CustomerPayBillOnline", amount=first.amount, account=view.reference)
    assert apply(world, line("FIRSTTAKE1", 8)) == "new"
    assert apply(world, line("SECONDTAK2", 4)) == "matched"
    with database.transaction() as session:
        attempts = {a.id: (a.status, a.receipt) for a in session.scalars(select(PaymentAttempt))}
        assert attempts == {first.id: ("succeeded", "FIRSTTAKE1"), second: ("succeeded", "SECONDTAK2")}
        outcomes = dict(session.execute(select(PaymentReceived.receipt, PaymentReceived.outcome)).all())
        assert outcomes == {f"QRY-{second}": "funded", "FIRSTTAKE1": "refunding"}
