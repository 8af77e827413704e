"""PostgreSQL round trips per money-moving use case (issue 13), counted on the app's real engine.

Every trip to the server is counted: the pool's pre-ping, the BEGIN psycopg sends before a
transaction's first statement, each statement, COMMIT and ROLLBACK (only when a transaction is
open: psycopg sends nothing otherwise). A use case that grows a round trip fails here, instead of
only showing up as a slower benchmark. PostgreSQL only: SQLite has no server to travel to.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/zemi_h9 .venv/bin/python -m pytest \
        tests/integration/test_round_trips.py -s -p no:cacheprovider      # -s prints each statement
"""
import json
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, update

from app import create_app
from bench import ussd as bench
from escrow.models import InboundCallback, Order, Payout, PaymentAttempt, PaymentReceived
from escrow.payments import PaymentResult
from escrow.payouts import RESULT, transfer_reply
from tests.conftest import TEST_DATA_KEY

# Ceilings: issue 13's goals, half of what each use case cost before it (create order 14, confirm
# delivery 14, applying a fresh STK success 28 with its intake). Before escrow/writes.py they cost
# 7 (8 with the limits' advisory lock), 10 and 15 (16 with the receipt check); now 6, 5 and 8. The
# writes nothing reads back (order event, ledger entry and postings, messages, transfer, outbox rows)
# go in one statement at commit, the UPDATE that funds an order sets its code and dispatch deadline
# too, the receipt is recorded with its outcome, and a receipt the claim just wrote is not looked up.
# Creating an order then took 5: the order's INSERT carries what follows from it (its event, the
# reminder to pay, the STK attempt and its outbox row) in one statement (escrow/ordering.py); what
# is left is BEGIN, the numbers' advisory lock, the limits SELECT, that statement and COMMIT. (The
# lock cannot go into the limits SELECT: a statement's snapshot is taken before it waits for the
# lock, so its counts would miss an order committed meanwhile.)
CREATE_ORDER_MAX = 5
CONFIRM_DELIVERY_MAX = 7
FRESH_STK_CALLBACK_MAX = 10      # applying it: the worker's or the route's unit of work
KEEP_CALLBACK_MAX = 1            # keeping its raw body first: one INSERT outside a transaction
CLAIM_CALLBACK_MAX = 1           # the worker's claim of stored callbacks: one UPDATE ... RETURNING, autocommit
# The other money-moving use cases, at what they cost when these ceilings were added (one less than
# before escrow/writes.py: their order event now goes with their outbox rows). Not yet at half.
B2C_RESULT_MAX = KEEP_CALLBACK_MAX + 14   # a transfer's tagged result: kept, its tag checked (1), applied (13)
SELLER_REFUND_MAX = 13           # the seller cancels a paid order: refunded in full; one more than before
                                 # f53ceb7: the refund reads how the order was paid (a paybill payment goes
                                 # back by Reversal to whoever paid, not by B2C to the order's buyer)


def _postgres(url: str) -> bool:
    return url.startswith(("postgres", "postgresql"))


class RoundTrips:
    """Counts what the engine sends to PostgreSQL, by kind, while `counting()` is open."""

    def __init__(self, db):
        self.on, self.trips = False, []
        self.engine = engine = db.engine
        db.on_statement(self._sent_straight)   # escrow/quick.py's trips, which the engine's events do not see
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

    def _sent_straight(self, kind: str, sql: str) -> None:
        self._count(kind if kind in ("BEGIN", "COMMIT", "ROLLBACK") else " ".join(sql.split())[:90])

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
def app(database_url, redis_url, tmp_path, request):
    """The app; a test may add settings with @pytest.mark.parametrize("app", [{...}], indirect=True)."""
    if not _postgres(database_url):
        pytest.skip("round trips are counted on PostgreSQL (set DATABASE_URL)")
    settings = bench.app_settings(database_url, redis_url, str(tmp_path / "instance"), TEST_DATA_KEY)
    app = create_app({**settings, "STK_DELAY_SECONDS": "0", **getattr(request, "param", {})})
    yield app
    app.extensions["zemi"].db.dispose()


@pytest.fixture
def trips(app, monkeypatch):
    """A connection idle for more than PING_AFTER_IDLE_SECONDS is pinged on checkout (one trip more):
    the hops here follow each other closely, but a loaded machine may pause; the count is of a busy pool."""
    from escrow import db
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    return RoundTrips(app.extensions["zemi"].db)


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


def _sent_attempt(zemi, checkout_id: str):
    """An order awaiting payment whose STK push Daraja accepted: (order, attempt id, charge)."""
    order = zemi.service.create_order(buyer="0711222333", seller="0722000111", price=1_000, item="Blue kitenge")
    with zemi.db.transaction() as session:
        attempt_id, charge = session.execute(select(PaymentAttempt.id, PaymentAttempt.amount)
                                             .where(PaymentAttempt.status == "queued")).one()
        session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt_id)
                        .values(status="sent", checkout_request_id=checkout_id))
    return order, attempt_id, charge


def _stk_success(checkout_id: str, charge: int, receipt: str) -> dict:
    return {"Body": {"stkCallback": {
        "MerchantRequestID": "1-2-3", "CheckoutRequestID": checkout_id, "ResultCode": 0, "ResultDesc": "ok",
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": charge},
                                      {"Name": "MpesaReceiptNumber", "Value": receipt}]}}}}


def _funded(zemi, order) -> bool:
    with zemi.db.transaction() as session:
        return session.scalar(select(Order.state).where(Order.reference == order.reference)) == "funded"


def test_applying_a_fresh_stk_success(app, trips):
    """What the worker (store-then-ack) or the route (inline) runs for a stored success callback."""
    zemi = app.extensions["zemi"]
    order, attempt_id, charge = _sent_attempt(zemi, "ws_CO_RT_1")
    body = json.dumps(_stk_success("ws_CO_RT_1", charge, "RT00000001"))
    callback_id = zemi.service.store_callback(source="stk", body=body.encode(), remote_addr="127.0.0.1")
    result = PaymentResult("ws_CO_RT_1", True, "0", "ok", charge, "RT00000001", attempt_id=attempt_id)
    with trips.counting():
        outcome = zemi.service.record_payment_result(result, callback_id)
    trips.report("fresh STK success applied")
    assert outcome == "funded" and _funded(zemi, order)
    with zemi.db.transaction() as session:
        assert session.scalar(select(PaymentReceived.outcome)) == "funded"
        assert session.scalar(select(InboundCallback.status)) == "applied"
    assert len(trips) <= FRESH_STK_CALLBACK_MAX, trips.trips


@pytest.mark.parametrize("app", [{"CALLBACK_APPLY": "inline"}], indirect=True)   # the route applies it
def test_a_fresh_stk_success_callback_kept_then_applied_by_its_route(app, trips):
    zemi = app.extensions["zemi"]
    order, attempt_id, charge = _sent_attempt(zemi, "ws_CO_RT_2")
    client = app.test_client()
    with trips.counting():
        response = client.post(f"/hooks/stk/{bench.BENCH_CALLBACK_TOKEN}/a{attempt_id}",
                               data=json.dumps(_stk_success("ws_CO_RT_2", charge, "RT00000002")),
                               content_type="application/json")
    trips.report("fresh STK callback, kept then applied")
    assert response.status_code == 200
    assert _funded(zemi, order)
    with zemi.db.transaction() as session:
        assert session.scalar(select(InboundCallback.status)) == "applied"
    assert len(trips) <= KEEP_CALLBACK_MAX + FRESH_STK_CALLBACK_MAX, trips.trips


def test_the_worker_claiming_and_applying_a_stored_stk_success(app, trips):
    """Store-then-acknowledge (the default): the route kept the body; the worker claims it with a lease
    and applies it (escrow/intake.py apply_waiting)."""
    zemi = app.extensions["zemi"]
    order, attempt_id, charge = _sent_attempt(zemi, "ws_CO_RT_3")
    response = app.test_client().post(f"/hooks/stk/{bench.BENCH_CALLBACK_TOKEN}/a{attempt_id}",
                                      data=json.dumps(_stk_success("ws_CO_RT_3", charge, "RT00000003")),
                                      content_type="application/json")
    assert response.status_code == 200 and not _funded(zemi, order)
    with trips.counting():
        applied = zemi.service.intake.apply_waiting()
    trips.report("stored STK success, claimed and applied by the worker")
    assert applied == 1 and _funded(zemi, order)
    with zemi.db.transaction() as session:
        assert session.scalar(select(InboundCallback.status)) == "applied"
    assert len(trips) <= CLAIM_CALLBACK_MAX + FRESH_STK_CALLBACK_MAX, trips.trips


def _released(app, redis_url):
    """A funded order confirmed delivered: its payout queued. (order reference, payout id)."""
    zemi = app.extensions["zemi"]
    [(seller, code)] = bench.seed_code_orders(app, 6, 1, "RT", threads=1)
    token = zemi.service.check_delivery_code(caller=seller, code=code).token
    with zemi.db.transaction() as session:
        reference = session.scalar(select(Order.reference))
    zemi.service.confirm_delivery(caller=seller, reference=reference, token=token)
    with zemi.db.transaction() as session:
        return reference, session.scalar(select(Payout.id))


def test_applying_a_b2c_result_for_a_payout(app, trips, redis_url):
    zemi = app.extensions["zemi"]
    reference, payout_id = _released(app, redis_url)
    with zemi.db.transaction() as session:
        session.execute(update(Payout).values(status="sent", conversation_id="AG_RT_1"))
        payout = session.get(Payout, payout_id)
        originator, amount = payout.originator_conversation_id, payout.amount
    body = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "OriginatorConversationID": originator,
                       "ConversationID": "AG_RT_1", "TransactionID": "RTB2C00001",
                       "ResultParameters": {"ResultParameter": [
                           {"Key": "TransactionAmount", "Value": amount},
                           {"Key": "TransactionReceipt", "Value": "RTB2C00001"}]}}}
    url = f"/hooks/b2c/result/{bench.BENCH_CALLBACK_TOKEN}/{transfer_reply(zemi.core, RESULT, payout_id, originator)}"
    with trips.counting():
        response = app.test_client().post(url, data=json.dumps(body), content_type="application/json")
    trips.report("B2C result, kept then applied")
    assert response.status_code == 200
    with zemi.db.transaction() as session:
        assert session.scalar(select(Payout.status)) == "succeeded"
        assert session.scalar(select(Order.state).where(Order.reference == reference)) == "paid_out"
    assert len(trips) <= B2C_RESULT_MAX, trips.trips


def test_a_seller_cancelling_a_paid_order_refunds_it(app, trips, redis_url):
    zemi = app.extensions["zemi"]
    [(seller, _code)] = bench.seed_code_orders(app, 7, 1, "RT", threads=1)
    with zemi.db.transaction() as session:
        reference = session.scalar(select(Order.reference))
    with trips.counting():
        view = zemi.service.cancel_order(seller, reference)
    trips.report("seller cancels a paid order (refund)")
    assert view.state == "refunding"
    with zemi.db.transaction() as session:
        assert session.scalar(select(Payout.purpose)) == "refund"
    assert len(trips) <= SELLER_REFUND_MAX, trips.trips
