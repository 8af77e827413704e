"""The real app (create_app) on the test database and Redis, with orders in every money state to aim at."""
import os
import random
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from app import create_app
from escrow.models import InboundCallback, OutboxItem, Order, PaymentAttempt, Payout, Posting
from escrow.payments import PaymentResult
from escrow.worker import Worker
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender

TOKEN = "fuzz-callback-token"
USSD_TOKEN = "fuzz-ussd-token"
SEED = int(os.environ.get("FUZZ_SEED", 11))


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: the USSD and callback fuzzers (CI: once, in the PostgreSQL pass; "
                                       "bin/soak for full counts)")


@dataclass
class Target:
    app: object
    client: object
    zemi: object
    gateway: FakePaymentGateway
    worker: Worker
    refs: dict = field(default_factory=dict)        # state -> [reference]
    checkouts: list = field(default_factory=list)   # (checkout id, charge, reference) of pushes sent, unpaid
    originators: list = field(default_factory=list)

    @property
    def db(self):
        return self.zemi.db

    def money_snapshot(self) -> dict:
        """Everything that says money moved or will: postings, transfers, B2C rows, order states."""
        with self.db.transaction() as session:
            return {"postings": session.scalar(select(func.count()).select_from(Posting)),
                    "payouts": session.scalar(select(func.count()).select_from(Payout)),
                    "b2c outbox": session.scalar(select(func.count()).select_from(OutboxItem)
                                                 .where(OutboxItem.kind == "b2c_payout")),
                    "states": dict(session.execute(select(Order.reference, Order.state)).all())}

    def stored(self, source: str) -> list[tuple[int, str]]:
        with self.db.transaction() as session:
            return session.execute(select(InboundCallback.id, InboundCallback.status)
                                   .where(InboundCallback.source == source).order_by(InboundCallback.id)).all()


def build_target(database_url: str, redis_url: str, instance_path: str, confirm: str = "never") -> Target:
    app = create_app({"MPESA_CONFIRM_WITH_QUERY": confirm, "CALLBACK_JOURNAL_DIR": f"{instance_path}/journal",
                      "INSTANCE_PATH": instance_path, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                      "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY, "CALLBACK_TOKEN": TOKEN,
                      "USSD_PATH_TOKEN": USSD_TOKEN, "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console",
                      "ORDERS_PER_HOUR": "100000", "STK_PUSHES_PER_HOUR": "100000",
                      "USSD_RATE_LIMIT_PER_MINUTE": "1000000"})
    zemi = app.extensions["zemi"]
    zemi.redis.flushdb()
    gateway = FakePaymentGateway()
    target = Target(app, app.test_client(), zemi, gateway, Worker(zemi.db, zemi.core, gateway, FakeSmsSender()))
    seed_orders(target)
    return target


def seed_orders(target: Target) -> None:
    """Orders awaiting payment (an STK push sent), funded, released with a B2C in flight."""
    service, rng = target.zemi.service, random.Random(SEED)
    sellers = {}
    for n in range(9):
        view = service.create_order(buyer=f"07110{n:05d}", seller=f"07220{n:05d}", price=rng.choice((500, 1500)),
                                    item="Fuzz goods")
        target.refs.setdefault("awaiting_payment", []).append(view.reference)
        sellers[view.reference] = f"07220{n:05d}"
    target.worker.run_once()
    for push in target.gateway.pushes:
        target.checkouts.append((push["checkout_id"], push["amount"], push["reference"]))
    for checkout, amount, reference in target.checkouts[:6]:
        service.record_payment_result(PaymentResult(checkout, True, "0", "ok", amount, f"RCPFZ{checkout[-4:]}"))
        target.refs["awaiting_payment"].remove(reference)
        target.refs.setdefault("funded", []).append(reference)
    target.checkouts = target.checkouts[6:]
    for reference in target.refs["funded"][:2]:  # the seller cancels: a refund goes out by B2C
        service.cancel_order(sellers[reference], reference)
        target.refs["funded"].remove(reference)
        target.refs.setdefault("refunding", []).append(reference)
    target.worker.run_once()
    with target.db.transaction() as session:
        target.originators = list(session.scalars(select(Payout.originator_conversation_id)))


@pytest.fixture
def target(database_url, redis_url, tmp_path):
    built = build_target(database_url, redis_url, str(tmp_path / "instance"))
    yield built
    built.zemi.db.dispose()
