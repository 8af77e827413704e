"""The M-Pesa scenarios' live service: the real app over HTTP with the worker's reconcile pass on and
the Daraja simulator over HTTP (fixtures `sim`, `start_live`, `live`), and the helpers their tests share
(test_mpesa_*.py and other e2e modules import them from here)."""
import threading

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app import create_app
from escrow.models import Order, PaymentAttempt
from mpesa.simulator import SimulatorServer
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.e2e.conftest import CALLBACK_TOKEN, LiveService, free_port

SELLER = "0722000111"
FAST = {"STK_QUERY_AFTER_SECONDS": "0", "B2C_QUERY_AFTER_SECONDS": "1", "B2C_RETRY_AFTER_SECONDS": "0",
        "RECONCILE_EVERY_SECONDS": "0"}


@pytest.fixture
def sim():
    with SimulatorServer({"callback_delay": 0.05, "late_delay": 0.8}) as server:
        yield server


@pytest.fixture
def start_live(sim, database_url, redis_url, tmp_path):
    """start_live(**settings) -> a LiveService with the reconcile pass on, and these settings added."""
    running = []

    def start(**extra):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        app = create_app({
            "INSTANCE_PATH": str(tmp_path / f"instance{len(running)}"), "DATABASE_URL": database_url,
            "REDIS_URL": redis_url, "MPESA_BASE_URL": sim.base_url, "MPESA_CONSUMER_KEY": "sim-key",
            "MPESA_CONSUMER_SECRET": "sim-secret", "MPESA_SHORTCODE": "174379",
            "MPESA_PASSKEY": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
            "MPESA_B2C_SHORTCODE": "600000", "MPESA_INITIATOR_NAME": "testapi", "MPESA_SECURITY_CREDENTIAL": "cred",
            "PUBLIC_BASE_URL": base_url, "CALLBACK_TOKEN": CALLBACK_TOKEN, "SECRET_KEY": TEST_SECRET_KEY,
            "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console", **FAST, **extra})
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append((server, app))
        return LiveService(app, base_url)

    import redis
    redis.Redis.from_url(redis_url).flushdb()
    yield start
    for server, app in running:
        server.shutdown()
        app.extensions["zemi"].db.dispose()


@pytest.fixture
def live(start_live):
    return start_live()


# --- helpers --------------------------------------------------------------------------------
def settle(live, sim, rounds: int = 2) -> None:
    """Let every simulator callback land and the worker (with its reconcile pass) act on it."""
    for _ in range(rounds):
        live.run_worker()
        assert sim.drain(10)
    live.run_worker()


def apply_callbacks(live) -> int:
    """The worker pass's callback step alone: apply what the STK route only stored
    (CALLBACK_APPLY=worker, the default), without its outbox or reconcile steps."""
    return live.zemi.service.intake.apply_waiting()


def order_for(live, sim, buyer: str, scenario: str | None = None, price: int = 1_000, wait: bool = True):
    """An order and its STK push; with `wait`, the simulator's callbacks have landed on return (so
    the reconcile pass, which queries at once in these tests, never races them)."""
    if scenario:
        sim.set_scenario(buyer, scenario, times=1)
    order = live.zemi.service.create_order(buyer=buyer, seller=SELLER, price=price, item="Blue kitenge")
    live.run_worker()   # the STK push
    if wait:
        assert sim.drain(10)
    return order


def state(live, buyer: str, reference: str) -> str:
    return live.zemi.service.order_for(buyer, reference).state


def rows(live, model, *where):
    with live.zemi.db.transaction() as session:
        return list(session.scalars(select(model).where(*where).order_by(model.id)))


def count(live, model, *where) -> int:
    with live.zemi.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def attempts(live, reference: str) -> list[PaymentAttempt]:
    with live.zemi.db.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == reference))
        return list(session.scalars(select(PaymentAttempt).where(PaymentAttempt.order_id == order_id)
                                    .order_by(PaymentAttempt.id)))


def ledger_ok(live) -> str:
    result = live.cli("ledger", "check")
    assert result.exit_code == 0, result.output
    return result.output


def findings(live) -> list[dict]:
    return live.zemi.service.open_findings()


def stk_success_body(checkout_id: str, amount: int, receipt: str) -> dict:
    return {"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout_id, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [
            {"Name": "Amount", "Value": float(amount)}, {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20240706224852},
            {"Name": "PhoneNumber", "Value": 254712345678}]}}}}


def post(live, path: str, body, **headers):
    return requests.post(f"{live.base_url}{path}", json=body, headers=headers, timeout=10)


def release(live, sim, buyer: str, reference: str) -> None:
    """The seller enters the buyer's delivery code: the order is released and its payout queued."""
    service = live.zemi.service
    match = service.check_delivery_code(caller=SELLER, code=live.delivery_code(buyer))
    assert service.confirm_delivery(caller=SELLER, reference=reference, token=match.token).state == "released"


def b2c_requests(sim) -> list[dict]:
    return [r for r in sim.requests_received() if r["path"].startswith("/mpesa/b2c/")]



def funded_and_released(live, sim, buyer: str, scenario: str | None):
    """A funded order whose buyer's code released it, its B2C request sent (the seller's number in `scenario`)."""
    order = order_for(live, sim, buyer)
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    if scenario:
        sim.set_scenario(SELLER, scenario, times=1)
    release(live, sim, buyer, order.reference)
    live.run_worker()   # the B2C request
    return order
