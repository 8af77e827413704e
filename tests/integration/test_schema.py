import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from escrow import ledger
from escrow.ledger import credit, debit


def test_migrations_build_every_table(database):
    with database.transaction() as session:
        assert session.execute(text("SELECT COUNT(*) FROM orders")).scalar() == 0
        assert session.execute(text("SELECT COUNT(*) FROM outbox")).scalar() == 0


def test_postings_cannot_be_updated_or_deleted(database):
    with database.transaction() as session:
        ledger.post(session, kind="test", dedupe_key="t1", order_id=None,
                    lines=[debit(ledger.MPESA_CASH, 5), credit(ledger.SUSPENSE, 5)])
    for statement in ("UPDATE postings SET amount = 0", "DELETE FROM postings", "DELETE FROM journal_entries"):
        with pytest.raises(DBAPIError):
            with database.transaction() as session:
                session.execute(text(statement))


def test_the_same_entry_posts_only_once(database):
    lines = [debit(ledger.MPESA_CASH, 5), credit(ledger.SUSPENSE, 5)]
    with database.transaction() as session:
        assert ledger.post(session, kind="test", dedupe_key="once", order_id=None, lines=lines)
        assert not ledger.post(session, kind="test", dedupe_key="once", order_id=None, lines=lines)
        assert ledger.balance(session, ledger.MPESA_CASH) == 5


def test_python_refuses_an_unbalanced_entry(database):
    with pytest.raises(ledger.UnbalancedEntry):
        with database.transaction() as session:
            ledger.post(session, kind="test", dedupe_key="bad", order_id=None,
                        lines=[debit(ledger.MPESA_CASH, 5), credit(ledger.SUSPENSE, 4)])


def test_postgres_itself_refuses_an_unbalanced_entry(database):
    if database.dialect != "postgresql":
        pytest.skip("the deferred balance trigger exists on PostgreSQL only")
    with pytest.raises(DBAPIError, match="does not balance"):
        with database.transaction() as session:
            session.execute(text("INSERT INTO journal_entries (kind, dedupe_key) VALUES ('raw', 'raw1')"))
            session.execute(text("INSERT INTO postings (entry_id, account, amount) "
                                 "SELECT id, 'mpesa_cash', 7 FROM journal_entries WHERE dedupe_key = 'raw1'"))
