"""Issue 11 finding 1 in the core: an STK push that may have reached M-Pesa is never forgotten.
The callback finds its attempt by our own attempt id when Daraja's answer was never recorded; the
order waits in checking_payment past its pay-by time; it expires only once the statement has
covered the push's time, with a finding. Real databases (SQLite, and PostgreSQL with DATABASE_URL)."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from escrow.context import Core
from escrow.db import db_now
from escrow.models import InboundCallback, Order, OutboxItem, PaymentAttempt
from escrow.payments import PaymentResult
from escrow.reconcile import Reconciler, ReconcileSettings
from escrow.reports import ledger_findings
from escrow.service import EscrowService
from escrow.settings import EscrowSettings
from escrow.statement.runs import finish_run, start_run
from escrow.timers import run_timers
from escrow.worker import Worker
from mpesa.routes import CALLBACK_PARSERS
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender
from tests.integration.test_reconcile import ScriptedGateway

BUYER, SELLER = "0712345678", "0722000111"


class DiesAfterDaraja(FakePaymentGateway):
    """Daraja accepts the push, then the worker dies before recording the answer."""

    class Killed(BaseException):
        pass

    def request_payment(self, **request):
        super().request_payment(**request)
        raise self.Killed("worker killed between Daraja's answer and the commit")


@pytest.fixture
def world(database, core):
    core = Core(settings=EscrowSettings(stk_delay_seconds=0), vault=core.vault, paybill="174379")
    return EscrowService(database, core), core, database


def crashed_push(world) -> tuple:
    """An order whose push Daraja accepted while the worker died before recording it; the
    worker's next run finds the attempt 'sending' and marks it 'unknown' (no checkout id)."""
    service, core, database = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Blue kitenge")
    dying = DiesAfterDaraja()
    with pytest.raises(DiesAfterDaraja.Killed):
        Worker(database, core, dying, FakeSmsSender()).run_once()
    with database.transaction() as session:   # the lease of the dead worker's item runs out
        session.execute(update(OutboxItem).values(leased_until=None, due_at=db_now(session) - timedelta(seconds=1)))
    Worker(database, core, FakePaymentGateway(), FakeSmsSender()).run_once()
    attempt = the_attempt(database)
    assert (attempt.status, attempt.checkout_request_id) == ("unknown", None)
    return order, attempt.id, dying.pushes[0]["checkout_id"]


def the_attempt(database) -> PaymentAttempt:
    with database.transaction() as session:
        return session.scalar(select(PaymentAttempt))


def state(world, order) -> str:
    return world[0].order_for(BUYER, order.reference).state


def pay_by_passed(database, order) -> None:
    with database.transaction() as session:
        session.execute(update(Order).where(Order.reference == order.reference)
                        .values(pay_by=db_now(session) - timedelta(seconds=1)))


def findings(database) -> list[dict]:
    with database.transaction() as session:
        return [json.loads(body) for body in session.scalars(
            select(InboundCallback.body).where(InboundCallback.source == "finding").order_by(InboundCallback.id))]


def ledger_ok(database) -> None:
    with database.transaction() as session:
        assert ledger_findings(session)[0] == []


def test_a_callback_naming_our_attempt_funds_it_though_its_checkout_id_was_never_recorded(world):
    service, _, database = world
    order, attempt_id, checkout = crashed_push(world)
    paid = PaymentResult(checkout, True, "0", "ok", order.charge, "SGR7CRASH1", attempt_id=attempt_id)
    assert service.record_payment_result(paid) == "funded"
    attempt = the_attempt(database)
    assert (attempt.status, attempt.checkout_request_id, attempt.receipt) == ("succeeded", checkout, "SGR7CRASH1")
    assert state(world, order) == "funded"
    assert service.record_payment_result(paid) == "duplicate"
    ledger_ok(database)


def test_a_callback_naming_an_attempt_with_another_checkout_id_is_a_finding_and_funds_nothing(world):
    service, _, database = world
    order, attempt_id, checkout = crashed_push(world)
    service.link_payment_attempt(PaymentResult(checkout, False, "1032", "", attempt_id=attempt_id))
    forged = PaymentResult("ws_CO_FORGED", True, "0", "ok", order.charge, "SGR7FORGED", attempt_id=attempt_id)
    assert service.record_payment_result(forged) == "conflict"
    assert the_attempt(database).checkout_request_id == checkout
    assert state(world, order) == "awaiting_payment"
    assert [f["kind"] for f in findings(database)] == ["stk-callback-conflict"]


def test_a_callback_naming_an_attempt_that_never_left_is_not_trusted(world):
    service, _, database = world
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Lamp")   # attempt queued
    forged = PaymentResult("ws_CO_X", True, "0", "ok", order.charge, "SGR7NEVER", attempt_id=the_attempt(database).id)
    assert service.record_payment_result(forged) == "conflict"
    assert (the_attempt(database).status, state(world, order)) == ("queued", "awaiting_payment")


def test_a_push_in_doubt_keeps_its_order_checking_past_pay_by_and_a_late_callback_funds_it(world):
    service, core, database = world
    order, attempt_id, checkout = crashed_push(world)
    pay_by_passed(database, order)
    run_timers(database, core)
    assert state(world, order) == "checking_payment"
    run_timers(database, core)
    assert state(world, order) == "checking_payment"   # no statement yet: it waits, it does not expire
    paid = PaymentResult(checkout, True, "0", "ok", order.charge, "SGR7LATE01", attempt_id=attempt_id)
    assert service.record_payment_result(paid) == "funded"
    assert state(world, order) == "funded"
    ledger_ok(database)


def test_a_checking_order_expires_once_its_push_is_settled_failed(world):
    service, core, database = world
    order, attempt_id, checkout = crashed_push(world)
    pay_by_passed(database, order)
    run_timers(database, core)
    failed = PaymentResult(checkout, False, "1032", "Request cancelled by user", attempt_id=attempt_id)
    assert service.record_payment_result(failed) == "failed"
    run_timers(database, core)
    assert state(world, order) == "expired"
    assert findings(database) == []


def test_after_the_statement_covers_the_push_with_no_payment_the_order_expires_with_a_finding(world):
    service, core, database = world
    order, attempt_id, _ = crashed_push(world)
    pay_by_passed(database, order)
    run_timers(database, core)
    with database.transaction() as session:
        created = session.get(PaymentAttempt, attempt_id).created_at
        early = start_run(session, shortcode="174379", window_start=created - timedelta(hours=1),
                          window_end=created + timedelta(minutes=10))
        finish_run(session, early, status="complete")
    run_timers(database, core)
    assert state(world, order) == "checking_payment"   # covered, but not yet the whole time it could pay
    with database.transaction() as session:
        later = start_run(session, shortcode="174379", window_start=created + timedelta(minutes=10),
                          window_end=created + timedelta(hours=2))
        finish_run(session, later, status="complete")
    run_timers(database, core)
    assert state(world, order) == "expired"
    [finding] = findings(database)
    assert finding["kind"] == "stk-unconfirmed-expired" and finding["order"] == order.reference
    assert "KES 1,0" in finding["summary"] and "0712***678" in finding["summary"] and BUYER not in json.dumps(finding)
    attempt = the_attempt(database)
    assert attempt.status == "failed" and attempt.result_code == "statement"
    ledger_ok(database)


def test_the_query_step_settles_an_attempt_whose_checkout_id_came_late(world):
    """The callback carried the checkout id but was held (or lost after linking): a query settles it."""
    service, core, database = world
    order, attempt_id, checkout = crashed_push(world)
    service.link_payment_attempt(PaymentResult(checkout, True, "0", "ok", order.charge, "SGR7HELD01",
                                               attempt_id=attempt_id))
    gateway = ScriptedGateway()
    gateway.answers[checkout] = type(gateway.query_payment("x"))(False, "0", "processed successfully")
    Reconciler(database, core, gateway, ReconcileSettings(stk_query_after_seconds=0), CALLBACK_PARSERS).run()
    assert checkout in gateway.queries
    assert state(world, order) == "funded"
    ledger_ok(database)


def test_an_order_still_checking_a_day_after_pay_by_is_a_finding_once(world):
    """No statement coverage ever comes (not set up, or failing): an operator is told, once."""
    service, core, database = world
    order, _, _ = crashed_push(world)
    pay_by_passed(database, order)
    run_timers(database, core)
    run_timers(database, core)
    assert findings(database) == []
    with database.transaction() as session:
        session.execute(update(Order).where(Order.reference == order.reference)
                        .values(pay_by=db_now(session) - timedelta(hours=25)))
    run_timers(database, core)
    run_timers(database, core)
    [finding] = findings(database)
    assert finding["kind"] == "stk-still-checking" and "0712***678" in finding["summary"]
    assert "flask reconcile statement" in finding["summary"] and state(world, order) == "checking_payment"


@pytest.mark.postgres
def test_a_push_racing_the_pay_by_timer_never_leaves_for_an_expired_order(database, core):
    """The worker marking a push 'sending' and the pay-by timer firing at the same moment: either
    the order is held for checking (the push went), or it expired and the push never went."""
    if database.dialect != "postgresql":
        pytest.skip("row-level races need PostgreSQL (SQLite serializes every writer)")
    import dataclasses

    from escrow.payments import send_stk_push
    from tests.integration.test_lifecycle import _race
    settings = dataclasses.replace(core.settings, orders_per_hour=1_000, stk_pushes_per_hour=1_000)
    core = dataclasses.replace(core, settings=settings)
    service, gateway = EscrowService(database, core), FakePaymentGateway()
    seen = set()
    for _ in range(12):
        order = service.create_order(buyer=BUYER, seller=SELLER, price=900, item="Lamp")
        with database.transaction() as session:
            attempt_id = session.scalar(select(PaymentAttempt.id).join(Order, Order.id == PaymentAttempt.order_id)
                                        .where(Order.reference == order.reference))
        pay_by_passed(database, order)
        pushed, _ = _race(database, [lambda: send_stk_push(database, core, gateway, attempt_id),
                                     lambda: run_timers(database, core)])
        run_timers(database, core)   # the timer's next pass (it skips an order the push has locked)
        final = service.order_for(BUYER, order.reference).state
        seen.add((pushed, final))
        assert (pushed, final) in {("sent", "checking_payment"), ("failed", "expired")}, (pushed, final)
    print("outcomes seen:", sorted(seen))
