"""PostgreSQL restarted under a busy pool: a pooled connection whose server has gone is replaced when
it is checked out, however recently it was used, so no unit of work fails on it (F2)."""
import pytest
from sqlalchemy import literal, select, text

from escrow import db as db_module
from escrow import quick
from escrow.db import Database

pytestmark = pytest.mark.faults


@pytest.fixture
def database(fault_servers, monkeypatch):
    """A pool whose connections were in use a moment ago: the idle ping never applies."""
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    _base, postgres, _redis = fault_servers
    database = Database(postgres.url())
    yield database, postgres
    database.engine.dispose()


def _fill_the_pool(database: Database, count: int) -> None:
    held = [database.engine.raw_connection() for _ in range(count)]
    for connection in held:
        connection.dbapi_connection.execute("SELECT 1")
    for connection in held:
        connection.close()


def test_every_kind_of_unit_after_a_restart_gets_a_live_connection(database):
    database, postgres = database
    _fill_the_pool(database, 3)
    postgres.crash()
    postgres.start()
    with database.transaction() as session:   # the ORM's unit of work
        assert session.scalar(text("SELECT 1")) == 1
    with quick.unit(database) as unit:          # the driver-level unit the hot use cases run
        assert unit.first(quick.Prepared(select(literal(2))), {}) == (2,)
    assert database.read_scalar(select(literal(3))) == 3   # the first dial's lone read
    assert database.engine.pool.checkedin() == 3


def test_a_healthy_connection_used_a_moment_ago_costs_no_ping(database):
    database, _postgres = database
    _fill_the_pool(database, 1)
    pinged, ping = [], database.engine.dialect.do_ping
    database.engine.dialect.do_ping = lambda connection: pinged.append(connection) or ping(connection)
    with database.transaction() as session:
        assert session.scalar(text("SELECT 41")) == 41
    assert pinged == []
