"""A number's first dial of the day costs no more than a light hop plus one cheap read (issue 13): known or
new, it is one SELECT of its language outside any transaction. A new number's profile (what makes the
language offer once only) is written later, by the worker, from dials queued in Redis (escrow/greeting.py,
ussd/first_dials.py), and never for a number erased since its dial was queued."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text

from escrow.greeting import CLOCK_MARGIN, QueuedDial, Welcome
from escrow.db import insert_once
from escrow.limits import one_number_at_a_time
from escrow.models import ErasureRequest, Profile
from escrow.privacy.erasure import erase, request_erasure
from escrow.audit import Actor
from escrow.service import EscrowService

KNOWN, NEW = "0711000101", "0711000102"
OPERATOR = Actor("cli", "tester")


def statements(service: EscrowService, phone: str) -> list[str]:
    """The first word of every statement welcome() sends (transaction control aside)."""
    seen = []

    def note(_conn, _cursor, statement, *_args):
        word = statement.split()[0].upper()
        if word not in ("BEGIN", "COMMIT", "ROLLBACK"):   # SQLite's BEGIN IMMEDIATE comes this way too
            seen.append(word)

    def heard(kind, sql):
        note(None, None, sql)

    engine = service.db.engine
    event.listen(engine, "before_cursor_execute", note)
    stop = service.db.on_statement(heard)   # escrow/quick.py's statements go straight to the driver
    try:
        service.welcome(phone)
    finally:
        event.remove(engine, "before_cursor_execute", note)
        stop()
    return seen


def dialled(service: EscrowService, phone: str, ago: timedelta = timedelta(seconds=1)) -> QueuedDial:
    welcome = service.welcome(phone)
    assert welcome.first
    return QueuedDial(welcome.key, ago)


def profiles(database) -> int:
    return database.read_scalar(text("SELECT count(*) FROM profiles"))


def test_a_known_number_is_greeted_with_one_read(database, core):
    service = EscrowService(database, core)
    service.set_language(KNOWN, "sw")
    assert statements(service, KNOWN) == ["SELECT"]
    assert service.welcome(KNOWN) == Welcome("sw", False)


def test_a_new_number_is_greeted_with_the_same_one_read_and_nothing_written(database, core):
    service = EscrowService(database, core)
    assert statements(service, NEW) == ["SELECT"]
    assert service.welcome(NEW) == Welcome("en", True, core.vault.phone_key(NEW))
    assert profiles(database) == 0


def test_recorded_first_dials_make_the_numbers_known_once_and_keep_a_language_chosen_meanwhile(database, core):
    service = EscrowService(database, core)
    queued = [dialled(service, NEW), dialled(service, KNOWN)]
    service.set_language(KNOWN, "sw")     # chose Kiswahili before the worker's pass
    assert service.record_first_dials(queued + [queued[0]]) == 1
    assert service.record_first_dials(queued) == 0
    assert service.welcome(NEW) == Welcome("en", False)
    assert service.welcome(KNOWN) == Welcome("sw", False)


def test_a_dial_queued_before_an_erasure_of_any_number_is_not_recorded(database, core):
    """Erased numbers' rows name no number, so any erasure carried out since a dial was queued (with the
    clocks' margin) drops it: the number is offered the language choice once more, never brought back."""
    service = EscrowService(database, core)
    with database.transaction() as session:
        request_id = request_erasure(session, core, "0711000999", source="cli", actor=OPERATOR, reason="asked")
    assert erase(database, core, request_id, None, actor=OPERATOR).done
    assert service.record_first_dials([dialled(service, NEW, ago=timedelta(minutes=1))]) == 0
    assert service.record_first_dials([dialled(service, NEW, ago=timedelta(seconds=0))]) == 0   # within the margin
    with database.transaction() as session:   # the erasure long before the dial
        request = session.get(ErasureRequest, request_id)
        request.done_at -= CLOCK_MARGIN + timedelta(minutes=2)
    assert service.record_first_dials([dialled(service, NEW, ago=timedelta(minutes=1))]) == 1


def test_a_dial_of_a_number_whose_erasure_is_pending_is_not_recorded(database, core):
    service = EscrowService(database, core)
    with database.transaction() as session:
        request_erasure(session, core, NEW, source="cli", actor=OPERATOR, reason="asked")
    assert service.record_first_dials([dialled(service, NEW), dialled(service, KNOWN)]) == 1
    with database.transaction() as session:
        assert session.scalar(select(Profile.phone_key)) == core.vault.phone_key(KNOWN)


def test_an_erasure_waits_for_a_recording_of_the_same_number_in_progress(database, core):
    """A recording that read the erasure rows before the request was made still holds the number's lock,
    so the erasure scrubs after it commits, and the profile it wrote goes too."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    with database.transaction() as session:
        request_id = request_erasure(session, core, NEW, source="cli", actor=OPERATOR, reason="asked")
    key, outcome = core.vault.phone_key(NEW), []
    with database.transaction() as session:   # the recording, between its reads and its commit
        one_number_at_a_time(session, key)
        insert_once(session, Profile, phone_key=key, language="en")
        erasing = threading.Thread(target=lambda: outcome.append(erase(database, core, request_id, None,
                                                                       actor=OPERATOR)))
        erasing.start()
        erasing.join(0.5)
        assert erasing.is_alive(), "the erasure must wait for the number's lock"
    erasing.join(10)
    assert outcome[0].done and profiles(database) == 0
