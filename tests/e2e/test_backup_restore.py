"""The backup and restore drill (README, Production): dump the database with pg_dump, restore it into a
fresh database, and `flask ledger check` passes on the copy, with the ledger's and the audit log's
append-only guards restored too. PostgreSQL only (DATABASE_URL naming one)."""
import os
import shutil
import subprocess

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app import create_app
from escrow import audit
from escrow.db import Database
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.test_operator_commands import disputed_order


def plain_url(url: str) -> str:
    """libpq's form of the URL (pg_dump does not know SQLAlchemy's driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_a_dump_restored_into_a_fresh_database_passes_the_ledger_check(live, simulator, tmp_path, redis_url):
    source = os.environ.get("DATABASE_URL", "")
    if not source.startswith("postgres"):
        pytest.skip("the backup drill runs on PostgreSQL (DATABASE_URL)")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not installed (apt-get install postgresql-client)")
    reference = disputed_order(live, simulator)
    assert live.cli("disputes", "resolve", reference, "--split", "700", "--note", "half").exit_code == 0
    live.run_worker()
    with live.zemi.db.transaction() as session:
        audit.record(session, audit.Actor("alice", "agent", "127.0.0.1"), "dispute_noted", order_reference=reference,
                     reason="before the backup")
    dump = tmp_path / "zemi.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", plain_url(source)], check=True, timeout=300)

    server, name = plain_url(source).rsplit("/", 1)
    copy = f"{server}/{name}_restored"
    admin = Database(f"{server}/postgres")
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}_restored"'))
        connection.execute(text(f'CREATE DATABASE "{name}_restored"'))
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={copy}", str(dump)], check=True,
                   timeout=300)
    restored = create_app({"INSTANCE_PATH": str(tmp_path / "restored"), "DATABASE_URL": copy, "REDIS_URL": redis_url,
                           "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY, "CALLBACK_TOKEN": CALLBACK_TOKEN})
    try:
        check = restored.test_cli_runner().invoke(args=["ledger", "check"])
        assert check.exit_code == 0 and "ledger OK" in check.output, check.output
        shown = restored.test_cli_runner().invoke(args=["orders", "show", reference]).output
        assert shown.startswith(f"{reference} settl") and "0712***678" in shown     # sealed numbers still open
        for guarded in ("UPDATE postings SET amount = 0", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                with restored.extensions["zemi"].db.transaction() as session:
                    session.execute(text(guarded))
    finally:
        restored.extensions["zemi"].db.dispose()
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}_restored"'))
        admin.dispose()
