"""A number's first dial of the day costs no more than a light hop plus one cheap read (issue 13):
the language of a number Redis has forgotten is one SELECT, outside any transaction on PostgreSQL;
only a number never seen before also writes its profile (so the language offer is made once)."""
from sqlalchemy import event

from escrow.service import EscrowService

KNOWN, NEW = "0711000101", "0711000102"


def statements(service: EscrowService, phone: str) -> list[str]:
    """The first word of every statement greet() sends (transaction control aside)."""
    seen = []

    def note(_conn, _cursor, statement, *_args):
        word = statement.split()[0].upper()
        if word not in ("BEGIN", "COMMIT", "ROLLBACK"):   # SQLite's BEGIN IMMEDIATE comes this way too
            seen.append(word)

    engine = service.db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        service.greet(phone)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_a_known_number_is_greeted_with_one_read(database, core):
    service = EscrowService(database, core)
    assert service.greet(KNOWN) == ("en", True)
    service.set_language(KNOWN, "sw")
    assert statements(service, KNOWN) == ["SELECT"]
    assert service.greet(KNOWN) == ("sw", False)


def test_a_new_number_is_read_then_its_profile_written_once(database, core):
    service = EscrowService(database, core)
    seen = statements(service, NEW)
    assert seen[0] == "SELECT" and seen.count("INSERT") == 1
    assert statements(service, NEW) == ["SELECT"]
