"""What one USSD hop costs in round trips (issue 13), counted on the real app, Redis and database (SQLite or
the PostgreSQL named by DATABASE_URL): a light hop is two Redis round trips and no database work at all;
the first screen of a journey looks at the number's limits with one statement outside any transaction
(PostgreSQL), or not at all when the number passed that look within the last minute; an order made for
the number makes its next journey look again, so a number at its limit is still told on the first screen.
Counts, not timings: a hop that grows a round trip fails here."""
from contextlib import contextmanager

import pytest
import redis.connection
from sqlalchemy import event

from app import create_app
from bench import ussd as bench
from tests.conftest import TEST_DATA_KEY

BUYER, SELLER = "+254711000301", "0722000302"


class Trips:
    """Redis round trips (every packed send) and database work (pool checkouts, statements) while counting."""

    def __init__(self, monkeypatch, db):
        engine, self.in_unit = db.engine, False
        self.on, self.redis, self.checkouts, self.statements = False, 0, 0, []
        db.on_statement(self._sent_straight)   # escrow/quick.py's statements, which the engine's events do not see
        send = redis.connection.AbstractConnection.send_packed_command

        def counted_send(connection, command, check_health=True):
            self.redis += self.on
            return send(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted_send)
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _checkout(self, *_args):
        self.checkouts += self.on

    def _statement(self, conn, _cursor, statement, *_args):
        if self.on:
            word = statement.split()[0].upper()
            dbapi = conn.connection.dbapi_connection
            # psycopg sends BEGIN (and later COMMIT) around a statement unless the connection is in autocommit
            in_transaction = conn.dialect.name == "postgresql" and not dbapi.autocommit
            self.statements.append(word + (" in a transaction" if in_transaction else ""))

    def _sent_straight(self, kind: str, _sql: str) -> None:
        if kind in ("BEGIN", "COMMIT", "ROLLBACK"):
            self.in_unit = kind == "BEGIN"
        elif self.on:
            self.statements.append(kind + (" in a transaction" if self.in_unit else ""))

    @contextmanager
    def counting(self):
        self.redis, self.checkouts, self.statements, self.on = 0, 0, [], True
        try:
            yield self
        finally:
            self.on = False


@pytest.fixture
def app(database_url, redis_url, redis_client, tmp_path):
    app = create_app({**bench.app_settings(database_url, redis_url, str(tmp_path / "instance"), TEST_DATA_KEY),
                      "ORDERS_PER_HOUR": "2"})
    yield app
    app.extensions["zemi"].db.dispose()


class Phone:
    def __init__(self, app, number):
        self.client, self.number, self.sessions, self.typed = app.test_client(), number, 0, []

    def dial(self) -> str:
        self.sessions += 1
        self.typed = []
        return self._send()

    def type(self, answer: str) -> str:
        self.typed.append(answer)
        return self._send()

    def _send(self) -> str:
        response = self.client.post("/ussd", data={
            "sessionId": f"ATUid_trips{self.number[-4:]}_{self.sessions}", "serviceCode": "*384*1234#",
            "phoneNumber": self.number, "networkCode": "63902", "text": "*".join(self.typed)})
        assert response.status_code == 200
        return response.get_data(as_text=True)


def test_a_light_hop_is_two_redis_round_trips_and_no_database_work(app, monkeypatch):
    trips, phone = Trips(monkeypatch, app.extensions["zemi"].db), Phone(app, BUYER)
    phone.dial()                      # the number's first dial: greeted, its language remembered in Redis
    phone.type("1")                   # its first journey looks at its limits: a pass for a minute
    for answer in (SELLER, "700", "Kanga"):
        with trips.counting():
            reply = phone.type(answer)
        assert reply.startswith("CON ") and (trips.redis, trips.checkouts, trips.statements) == (2, 0, [])
    with trips.counting():
        assert phone.type("2").startswith("END Cancelled")
    assert (trips.redis, trips.checkouts) == (2, 0)
    with trips.counting():           # dialled today: language, resume offer and limits pass read with the session
        assert phone.dial().startswith("CON ")
    assert (trips.redis, trips.checkouts) == (2, 0)


def test_the_first_screen_looks_at_the_limits_with_one_select_then_not_again_within_a_minute(app, monkeypatch):
    """A journey's first screen looks at the number's limits with one SELECT (on PostgreSQL no BEGIN or
    COMMIT around it), then not again within a minute, nor after a new dial; a pass dropped (an order made
    for the number) makes it look again."""
    trips, phone = Trips(monkeypatch, app.extensions["zemi"].db), Phone(app, BUYER)
    postgres = app.extensions["zemi"].db.dialect == "postgresql"
    phone.dial()
    for _ in range(2):   # the first journey, then again once its pass is dropped
        with trips.counting():
            assert "seller" in phone.type("1")
        assert trips.redis == 2 and trips.checkouts == 1
        assert [word for word in trips.statements if not word.startswith("BEGIN")] == ["SELECT"]
        if postgres:
            assert trips.statements == ["SELECT"]      # no BEGIN and COMMIT round trips around the look
        phone.type("00")                                # back Home
        app.blueprints["ussd"].conversation.store.forget_limit_passes([BUYER])   # as an order made elsewhere would
        phone.dial()                                    # dialled today: the language comes from Redis, no pass
    phone.type("1")
    phone.type("00")                                    # and a new session of the same number
    phone.dial()
    with trips.counting():
        assert "seller" in phone.type("1")
    assert (trips.redis, trips.checkouts) == (2, 0)


def test_a_number_at_its_hourly_limit_is_told_at_the_first_screen_though_it_passed_a_minute_ago(app):
    """ORDERS_PER_HOUR=2: each order made drops the number's limits pass, so the third journey is refused
    where it starts, not at its summary."""
    phone = Phone(app, BUYER)
    for order in range(2):
        phone.dial()
        for answer in ("1", SELLER, "700", "Kanga"):
            assert phone.type(answer).startswith("CON ")
        assert phone.type("1").startswith("END Order ")
    phone.dial()
    refused = phone.type("1")
    assert refused.startswith("END ") and "limit of 2 orders in an hour" in refused


def test_an_order_made_for_the_number_elsewhere_drops_its_limits_pass(app):
    """The number passes the look as a buyer, then two orders name it as the seller (the API, a pay link:
    any adapter through the core): its next journey looks again and is refused on its first screen."""
    phone = Phone(app, SELLER)
    phone.dial()
    assert "buyer" in phone.type("2")              # request a payment: a pass for that journey
    phone.type("00")                                # and back Home: no unfinished task offered next time
    service = app.extensions["zemi"].service
    for buyer in ("+254711000401", "+254711000402"):
        service.create_order(buyer=buyer, seller=SELLER, price=700, item="Kanga")
    phone.dial()
    refused = phone.type("2")
    assert refused.startswith("END ") and "limit of 2 orders in an hour" in refused


def test_a_new_numbers_first_dial_is_one_read_and_its_profile_is_written_by_the_worker(app, monkeypatch):
    """Greeted: its language looked for (the read a known number's first dial of the day is) and nothing
    more; the dial is queued with the hop's own Redis commit and the worker's pass writes its profile, so
    the next day it is a known number, with no language offer."""
    zemi = app.extensions["zemi"]
    store, new = app.blueprints["ussd"].conversation.store, "+254711000399"
    trips, phone = Trips(monkeypatch, zemi.db), Phone(app, new)
    Phone(app, "+254711000398").dial()   # connections made (Redis's handshake is no hop's cost)
    with trips.counting():
        assert "Welcome! Kwa Kiswahili" in phone.dial()
    assert trips.redis == 2
    assert [word for word in trips.statements if not word.startswith("BEGIN")] == ["SELECT"]
    assert zemi.service.welcome(new).first            # not written by the hop
    zemi.worker().run_once()
    assert not zemi.service.welcome(new).first
    assert store.first_dials(10) == []
    store.redis.delete(store._key("lang", store.phone_key(new)))   # a day later
    assert "Welcome" not in phone.dial()   # a session of its own


def test_a_known_numbers_first_dial_of_the_day_is_one_read(app, monkeypatch):
    """Redis forgot its language (a day later): one SELECT outside any transaction, and the menu."""
    store = app.blueprints["ussd"].conversation.store
    phone = Phone(app, BUYER)
    phone.dial()
    app.extensions["zemi"].worker().run_once()   # its first dial recorded
    store.redis.delete(store._key("lang", store.phone_key(BUYER)))
    trips = Trips(monkeypatch, app.extensions["zemi"].db)
    with trips.counting():
        assert "Welcome" not in phone.dial()   # a session of its own
    assert trips.redis == 2
    assert [word for word in trips.statements if not word.startswith("BEGIN")] == ["SELECT"]


def test_the_confirm_hop_writes_the_order_in_two_redis_round_trips_and_drops_the_limits_pass(app, monkeypatch):
    """The limits pass the order makes stale is deleted with the hop's own commit, not in a round trip of
    its own (ussd/session_store.py forget_limit_passes)."""
    store = app.blueprints["ussd"].conversation.store
    trips, phone = Trips(monkeypatch, app.extensions["zemi"].db), Phone(app, BUYER)
    phone.dial()
    for answer in ("1", SELLER, "700", "Kanga"):
        assert phone.type(answer).startswith("CON ")
    assert store.redis.get(store._key("limits", store.phone_key(BUYER))) == b"pay"
    with trips.counting():
        assert phone.type("1").startswith("END Order ")
    assert trips.redis == 2
    assert store.redis.get(store._key("limits", store.phone_key(BUYER))) is None
