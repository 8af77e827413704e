"""A number's first dial of the day costs no more than a light hop plus one cheap read (issue 13): a known
number's is one SELECT of its language outside any transaction; a number never seen has, after that
read, on PostgreSQL one more statement that writes its profile (so the language offer is made once)
and looks at its limits for the menu."""
import pytest
from sqlalchemy import event, text

from escrow.errors import LimitExceeded

from escrow.service import EscrowService

KNOWN, NEW = "0711000101", "0711000102"


def statements(service: EscrowService, phone: str) -> list[str]:
    """The first word of every statement greet() sends (transaction control aside)."""
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
        service.greet(phone)
    finally:
        event.remove(engine, "before_cursor_execute", note)
        stop()
    return seen


def test_a_known_number_is_greeted_with_one_read(database, core):
    service = EscrowService(database, core)
    assert service.greet(KNOWN) == ("en", True)
    service.set_language(KNOWN, "sw")
    assert statements(service, KNOWN) == ["SELECT"]
    assert service.greet(KNOWN) == ("sw", False)


def test_a_new_number_has_its_profile_written_once(database, core):
    """The read finds none; then PostgreSQL: one statement writes it and looks at the limits; SQLite: the
    INSERT."""
    service = EscrowService(database, core)
    seen = statements(service, NEW)
    if database.dialect == "postgresql":
        assert seen == ["SELECT", "WITH"]
        assert database.read_scalar(text("SELECT count(*) FROM profiles")) == 1
    else:
        assert seen == ["SELECT", "INSERT"]
    assert service.greet(NEW) == ("en", False)


def test_a_new_numbers_first_dial_brings_the_menus_limits_look_on_postgresql(database, core):
    service = EscrowService(database, core)
    welcome = service.welcome(NEW)
    if database.dialect != "postgresql":
        assert (welcome.may_pay, welcome.may_request) == (None, None)   # the menu looks for itself
        return
    assert (welcome.may_pay, welcome.may_request) == (True, True)
    assert service.welcome(NEW).may_pay is None    # known now: its dial is one cheap read, its menu looks
    with pytest.raises(LimitExceeded):   # orders for a number never seen, until it meets one of its limits
        for seller in range(100, 200):
            service.create_order(buyer=KNOWN, seller=f"0722000{seller}", price=700, item="Kanga")
    assert service.welcome(KNOWN).may_pay is False
