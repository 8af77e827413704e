"""A callback is kept even when the database driver refuses it with an error of its own (not
wrapped by SQLAlchemy): psycopg refuses to switch a connection left inside a transaction to
autocommit, which the one-statement callback INSERT needs. Before, that error escaped as a 500 and an
STK callback (which Daraja never re-sends) was lost; now it goes to the journal like any refusal."""
import pytest
from sqlalchemy import event

from escrow.callback_journal import CallbackJournal
from escrow.db import Database
from escrow.intake import CallbackIntake


def test_a_driver_refusal_while_keeping_a_callback_sends_it_to_the_journal(database_url, core, tmp_path):
    if not database_url.startswith(("postgres", "postgresql")):
        pytest.skip("the one-statement autocommit INSERT is PostgreSQL's")
    db = Database(database_url)
    event.listen(db.engine, "connect", lambda connection, _record: connection.execute("SELECT 1"))  # left INTRANS
    journal = CallbackJournal(tmp_path / "journal")
    intake = CallbackIntake(db, core, journal=journal)
    intake.register("stk", lambda *args, **kwargs: "applied")
    try:
        assert intake.keep(source="stk", body=b'{"Body": {}}', remote_addr="127.0.0.1") is None   # journaled
        assert journal.pending_files() == 1
    finally:
        db.dispose()
