"""Writes that wait for the commit (escrow/writes.py): one statement on PostgreSQL, one by one on
SQLite, and on both nothing lost, nothing doubled, nothing missed by a read in the same unit of work."""
import pytest
from sqlalchemy import func, select

from escrow import ledger, outbox
from escrow.db import utcnow
from escrow.ledger import credit, debit
from escrow.models import JournalEntry, OutboxItem, Posting, SmsMessage
from escrow.notify import queue_sms_at_commit


def _post(session, key="test:1", amount=700):
    ledger.post_at_commit(session, kind="funding", dedupe_key=key, order_id=None,
                          lines=[debit(ledger.MPESA_CASH, amount), credit(ledger.SUSPENSE, amount)])


def _count(database, model, *where) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_an_entry_written_at_commit_is_posted_once_with_its_postings(database):
    with database.transaction() as session:
        _post(session)
    with database.transaction() as session:
        _post(session)                       # the same dedupe key again: no new entry, no postings
        _post(session, key="test:2", amount=300)
    assert _count(database, JournalEntry) == 2
    with database.transaction() as session:
        assert ledger.balance(session, ledger.SUSPENSE) == -1_000
        assert ledger.balance(session, ledger.MPESA_CASH) == 1_000
    assert _count(database, Posting) == 4


def test_the_same_entry_twice_in_one_unit_of_work_is_posted_once(database):
    with database.transaction() as session:
        _post(session)
        _post(session)
    assert _count(database, JournalEntry) == 1 and _count(database, Posting) == 2


def test_a_read_in_the_same_unit_of_work_sees_what_waits(database, core):
    with database.transaction() as session:
        _post(session)
        queue_sms_at_commit(session, core, phone="0712345678", kind="stopped", order_id=None)
        assert ledger.balance(session, ledger.SUSPENSE) == -700       # a read of postings writes them first
        [message_id] = session.scalars(select(SmsMessage.id)).all()
        [(kind, subject, key)] = session.execute(select(OutboxItem.kind, OutboxItem.subject_id,
                                                        OutboxItem.dedupe_key)).all()
    assert (kind, subject, key) == (outbox.SMS, message_id, f"sms:{message_id}")


def test_nothing_waiting_is_written_when_the_unit_of_work_fails(database, core):
    with pytest.raises(RuntimeError):
        with database.transaction() as session:
            _post(session)
            queue_sms_at_commit(session, core, phone="0712345678", kind="stopped", order_id=None)
            outbox.enqueue_at_commit(session, outbox.REMINDER, 16, due_at=session.scalar(select(utcnow())))
            raise RuntimeError("the use case failed")
    with database.transaction() as session:   # and a later unit of work does not write them either
        session.scalar(select(utcnow()))
    assert _count(database, JournalEntry) == _count(database, SmsMessage) == _count(database, OutboxItem) == 0


def test_a_write_in_a_savepoint_that_rolls_back_is_not_written(database):
    with database.transaction() as session:
        _post(session, key="test:kept")
        try:
            with session.begin_nested():
                _post(session, key="test:undone")
                raise RuntimeError("the savepoint's work failed")
        except RuntimeError:
            pass
    with database.transaction() as session:
        assert session.scalars(select(JournalEntry.dedupe_key)).all() == ["test:kept"]
    assert _count(database, Posting) == 2
