"""PostgreSQL round trips per money-moving use case (issue 13), counted on the app's real engine.

Every trip to the server is counted: the pool's pre-ping, the BEGIN psycopg sends before a
transaction's first statement, each statement, COMMIT and ROLLBACK (only when a transaction is
open: psycopg sends nothing otherwise). A use case that grows a round trip fails here, instead of
only showing up as a slower benchmark. PostgreSQL only: SQLite has no server to travel to.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/zemi_h9 .venv/bin/python -m pytest \
        tests/integration/test_round_trips.py -q -p no:cacheprovider
"""
import json
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, update

from app import create_app
from bench import ussd as bench
from escrow.models import InboundCallback, Order, PaymentAttempt, PaymentReceived
from tests.conftest import TEST_DATA_KEY

# Ceilings: what each use case costs now. Before issue 13 they cost 13, 14 and 32 (pool pre-ping on
# every checkout, clock and limit reads one by one, re-reads, one INSERT per outbox row, a separate
# transaction linking the attempt). Issue 13's goals are 7, 7 and 10: confirm delivery and the STK
# callback are not there yet (see the README's Performance section for what is left).
CREATE_ORDER_MAX = 7
CONFIRM_DELIVERY_MAX = 10
FRESH_STK_CALLBACK_MAX = 18      # 3 to keep the raw body (BEGIN, INSERT, COMMIT) + 15 to apply it

def _postgres(url: str) -> bool:
    return url.startswith(("postgres", "postgresql"))


class RoundTrips:
    """Counts what the engine sends to PostgreSQL, by kind, while `counting()` is open."""

    def __init__(self, engine):
        self.on, self.trips = False, []
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)
        dialect = engine.dialect
        original_ping = dialect.do_ping

        def ping(dbapi_connection):
            self._count("ping")
            return original_ping(dbapi_connection)

        dialect.do_ping = ping

    @contextmanager
    def counting(self):
        self.trips, self.on = [], True
        try:
            yield self
        finally:
            self.on = False

    def _count(self, what: str) -> None:
        if self.on:
            self.trips.append(what)

    @staticmethod
    def _in_transaction(conn) -> bool:
        import psycopg.pq
        dbapi = conn.connection.dbapi_connection
        return dbapi.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def _statement(self, conn, _cursor, statement, _parameters, _context, _executemany):
        dbapi = conn.connection.dbapi_connection
        if not dbapi.autocommit and not self._in_transaction(conn):
            self._count("BEGIN")   # psycopg opens the transaction in a trip of its own
        self._count(" ".join(statement.split())[:90])

    def _commit(self, conn):
        if self._in_transaction(conn):
            self._count("COMMIT")

    def _rollback(self, conn):
        if self._in_transaction(conn):
            self._count("ROLLBACK")

    def report(self, name: str) -> None:
        print(f"{name}: {len(self.trips)} round trips")
        for trip in self.trips:
            print("   ", trip)

    def __len__(self):
        return len(self.trips)


@pytest.fixture
def app(database_url, redis_url, tmp_path):
    if not _postgres(database_url):
        pytest.skip("round trips are counted on PostgreSQL (set DATABASE_URL)")
    settings = bench.app_settings(database_url, redis_url, str(tmp_path / "instance"), TEST_DATA_KEY)
    app = create_app({**settings, "STK_DELAY_SECONDS": "0"})
    yield app
    app.extensions["zemi"].db.dispose()


@pytest.fixture
def trips(app, monkeypatch):
    """A connection idle for more than PING_AFTER_IDLE_SECONDS is pinged on checkout (one trip more):
    the hops here follow each other closely, but a loaded machine may pause; the count is of a busy pool."""
    from escrow import db
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    return RoundTrips(app.extensions["zemi"].db.engine)


def _hops(client, script):
    forms = list(script.forms())
    replies = [client.post("/ussd", data=form).get_data(as_text=True) for form in forms[:-1]]
    assert all(reply.startswith("CON ") for reply in replies), replies
    return forms[-1]


def test_creating_an_order_on_the_pay_confirm_hop(app, trips, redis_url):
    bench.clear_redis(redis_url)
    client = app.test_client()
    last = _hops(client, bench.pay_script(5, 1, "RT"))
    with trips.counting():
        reply = client.post("/ussd", data=last).get_data(as_text=True)
    trips.report("create order")
    assert reply.startswith(bench.PAY_FINAL), reply
    with app.extensions["zemi"].db.transaction() as session:
        assert session.scalar(select(PaymentAttempt.status)) == "queued"
    assert len(trips) <= CREATE_ORDER_MAX, trips.trips


def test_confirming_delivery_on_the_code_confirm_hop(app, trips, redis_url):
    bench.clear_redis(redis_url)
    client = app.test_client()
    [(seller, code)] = bench.seed_code_orders(app, 5, 1, "RT", threads=1)
    last = _hops(client, bench.code_script(5, 0, seller, code, "RT"))
    with trips.counting():
        reply = client.post("/ussd", data=last).get_data(as_text=True)
    trips.report("confirm delivery")
    assert reply.startswith(bench.CODE_FINAL), reply
    with app.extensions["zemi"].db.transaction() as session:
        assert session.scalar(select(Order.state)) == "released"
    assert len(trips) <= CONFIRM_DELIVERY_MAX, trips.trips


def test_applying_a_fresh_stk_success_callback(app, trips):
    zemi = app.extensions["zemi"]
    order = zemi.service.create_order(buyer="0711222333", seller="0722000111", price=1_000, item="Blue kitenge")
    with zemi.db.transaction() as session:
        attempt_id, charge = session.execute(select(PaymentAttempt.id, PaymentAttempt.amount)).one()
        session.execute(update(PaymentAttempt).values(status="sent", checkout_request_id="ws_CO_RT_1"))
    body = {"Body": {"stkCallback": {
        "MerchantRequestID": "1-2-3", "CheckoutRequestID": "ws_CO_RT_1", "ResultCode": 0, "ResultDesc": "ok",
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": charge},
                                      {"Name": "MpesaReceiptNumber", "Value": "RT00000001"}]}}}}
    client = app.test_client()
    with trips.counting():
        response = client.post(f"/hooks/stk/{bench.BENCH_CALLBACK_TOKEN}/a{attempt_id}", data=json.dumps(body),
                               content_type="application/json")
    trips.report("fresh STK callback")
    assert response.status_code == 200
    with zemi.db.transaction() as session:
        assert session.scalar(select(Order.state).where(Order.reference == order.reference)) == "funded"
        assert session.scalar(select(PaymentReceived.outcome)) == "funded"
        assert session.scalar(select(InboundCallback.status)) == "applied"
    assert len(trips) <= FRESH_STK_CALLBACK_MAX, trips.trips
