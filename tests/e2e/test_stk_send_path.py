"""Issue 11 findings 1 and 2 end to end: the real app over HTTP, the worker, the Daraja simulator
over HTTP, and a redis-server of the test's own that the test kills.

- A Redis outage never marks a send 'unknown' when nothing was sent: pushes and payouts go out on
  the in-process token, a refused connection leaves the request queued and it is retried.
- A push Daraja accepted while the worker died before recording the answer is funded by its
  callback, which names our attempt in its URL."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from app import create_app
from escrow.db import db_now
from escrow.models import Order, OutboxItem, PaymentAttempt, Payout
from escrow.worker import Worker
from mpesa.simulator import SimulatorServer
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.e2e.conftest import CALLBACK_TOKEN, LiveService, free_port
from tests.e2e.mpesa_live import apply_callbacks
from tests.redis_server import KillableRedis

BUYER, SELLER = "0711000042", "0722000111"
STK = "/mpesa/stkpush/v1/processrequest"


@pytest.fixture
def own_redis(tmp_path):
    server = KillableRedis(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def start_live(database_url, own_redis, tmp_path):
    running = []

    def start(mpesa_base_url: str, **extra) -> LiveService:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        app = create_app({
            "INSTANCE_PATH": str(tmp_path / f"instance{len(running)}"), "DATABASE_URL": database_url,
            "REDIS_URL": own_redis.url, "MPESA_BASE_URL": mpesa_base_url, "MPESA_CONSUMER_KEY": "sim-key",
            "MPESA_CONSUMER_SECRET": "sim-secret", "MPESA_SHORTCODE": "174379",
            "MPESA_PASSKEY": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
            "MPESA_B2C_SHORTCODE": "600000", "MPESA_INITIATOR_NAME": "testapi", "MPESA_SECURITY_CREDENTIAL": "cred",
            "PUBLIC_BASE_URL": base_url, "CALLBACK_TOKEN": CALLBACK_TOKEN, "SECRET_KEY": TEST_SECRET_KEY,
            "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console",
            "STK_QUERY_AFTER_SECONDS": "600", "RECONCILE_EVERY_SECONDS": "0", **extra})
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append((server, app))
        return LiveService(app, base_url)

    yield start
    for server, app in running:
        server.shutdown()
        app.extensions["zemi"].db.dispose()


@pytest.fixture
def sim():
    with SimulatorServer({"callback_delay": 0.05}) as server:
        yield server


def run_worker_again(live) -> None:
    """The worker's next pass, with every outbox row due (its back-off or a dead worker's lease over)."""
    with live.zemi.db.transaction() as session:
        session.execute(update(OutboxItem).where(OutboxItem.status == "pending")
                        .values(leased_until=None, due_at=db_now(session) - timedelta(seconds=1)))
    live.run_worker()


def one(live, model, *where):
    with live.zemi.db.transaction() as session:
        return session.scalar(select(model).where(*where).order_by(model.id.desc()).limit(1))


def state(live, reference: str) -> str:
    return live.zemi.service.order_for(BUYER, reference).state


def ledger_ok(live) -> None:
    result = live.cli("ledger", "check")
    assert result.exit_code == 0, result.output


def test_during_a_redis_outage_a_push_and_a_refund_are_sent_never_unknown(start_live, sim, own_redis):
    live = start_live(sim.base_url)
    own_redis.kill()                      # down before the first token was ever fetched
    order = live.zemi.service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Blue kitenge")
    live.run_worker()
    run_worker_again(live)                # what used to turn a 'sending' attempt into 'unknown'
    assert one(live, PaymentAttempt).status in ("sent", "succeeded")
    assert sim.drain(10)
    live.run_worker()                     # applies the stored callback (CALLBACK_APPLY=worker, the default)
    assert state(live, order.reference) == "funded"
    live.zemi.service.cancel_order(SELLER, order.reference)      # the seller refunds: a B2C
    live.run_worker()
    run_worker_again(live)
    assert one(live, Payout).status in ("sent", "succeeded")
    assert sim.drain(10)
    live.run_worker()
    assert (one(live, Payout).status, state(live, order.reference)) == ("succeeded", "refunded")
    own_redis.start()                     # back, empty: the next push works as before
    second = live.zemi.service.create_order(buyer=BUYER, seller=SELLER, price=700, item="Lamp")
    live.run_worker()
    assert sim.drain(10)
    live.run_worker()
    assert state(live, second.reference) == "funded"
    ledger_ok(live)


def test_a_refused_connection_to_daraja_leaves_the_push_queued_and_it_is_retried(start_live):
    port = free_port()
    live = start_live(f"http://127.0.0.1:{port}")      # nothing listens there yet
    order = live.zemi.service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Blue kitenge")
    live.run_worker()
    assert one(live, PaymentAttempt).status == "queued"
    item = one(live, OutboxItem, OutboxItem.kind == "stk_push")
    assert (item.status, item.attempts) == ("pending", 1) and item.due_at is not None
    with SimulatorServer({"callback_delay": 0.05}, port=port) as late_sim:   # Daraja is reachable again
        run_worker_again(live)
        assert late_sim.drain(10)
        live.run_worker()                 # applies the stored callback
        assert len(late_sim.requests_received(STK)) == 1
        assert state(live, order.reference) == "funded"
    ledger_ok(live)


class KilledAfterDaraja(BaseException):
    """The worker process dies: nothing after this runs, nothing is committed."""


class DiesAfterDaraja:
    """The real gateway; the worker dies after Daraja accepted the push, before our commit."""

    def __init__(self, gateway):
        self.gateway = gateway

    def __getattr__(self, name):
        return getattr(self.gateway, name)

    def request_payment(self, **request):
        self.gateway.request_payment(**request)
        raise KilledAfterDaraja()


def test_a_push_accepted_but_never_recorded_is_funded_by_the_callback_to_its_attempt_url(start_live, sim):
    live = start_live(sim.base_url)
    order = live.zemi.service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Blue kitenge")
    zemi = live.zemi
    with pytest.raises(KilledAfterDaraja):
        Worker(zemi.db, zemi.core, DiesAfterDaraja(zemi.gateway), zemi.sms_sender).run_once()
    assert one(live, PaymentAttempt).checkout_request_id is None     # Daraja's answer was never recorded
    assert sim.drain(10)                                             # the simulator's callback lands
    [delivery] = sim.callbacks_delivered()
    attempt = one(live, PaymentAttempt)
    assert delivery["url"].endswith(f"/hooks/stk/{CALLBACK_TOKEN}/a{attempt.id}")
    assert apply_callbacks(live) == 1                                # the worker's callback step
    attempt = one(live, PaymentAttempt)
    assert state(live, order.reference) == "funded"
    assert attempt.status == "succeeded" and attempt.checkout_request_id
    run_worker_again(live)                                           # a new worker after the crash
    assert len(sim.requests_received(STK)) == 1                      # never pushed twice
    assert one(live, PaymentAttempt).status == "succeeded"
    with zemi.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Order).where(Order.state == "funded")) == 1
    ledger_ok(live)


def test_a_held_success_for_a_push_never_recorded_is_confirmed_by_query_and_funds(start_live, sim):
    """As live mode runs (MPESA_CONFIRM_WITH_QUERY=always): the success is held for an STK query, which
    needs the checkout id only the callback carried; it is recorded from the callback's URL."""
    live = start_live(sim.base_url, MPESA_CONFIRM_WITH_QUERY="always", STK_QUERY_AFTER_SECONDS="0")
    order = live.zemi.service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Blue kitenge")
    zemi = live.zemi
    with pytest.raises(KilledAfterDaraja):
        Worker(zemi.db, zemi.core, DiesAfterDaraja(zemi.gateway), zemi.sms_sender).run_once()
    assert sim.drain(10)
    assert apply_callbacks(live) == 1                                # the worker's callback step
    assert state(live, order.reference) == "awaiting_payment"        # held, not funded on its word
    assert one(live, PaymentAttempt).checkout_request_id             # but now known
    run_worker_again(live)                                           # the reconcile pass queries it
    assert any("stkpushquery" in r["path"] for r in sim.requests_received())
    assert state(live, order.reference) == "funded"
    assert len(sim.requests_received(STK)) == 1
    ledger_ok(live)
