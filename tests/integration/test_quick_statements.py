"""escrow/quick.py: hot statements sent straight to the database driver keep SQLAlchemy's meaning (issue 13):
a unit of work commits all or nothing, a lone statement runs outside any transaction, a driver error
arrives as SQLAlchemy's and leaves the pool usable, and a statement needing SQLAlchemy's type conversion
is refused before anything is sent. On SQLite (through SQLAlchemy) and on the PostgreSQL of DATABASE_URL."""
import pytest
from sqlalchemy import Boolean, bindparam, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from escrow import quick
from escrow.models import Profile
from escrow.writes import insert_once_statement

LANGUAGE = quick.Prepared(select(Profile.language).where(Profile.phone_key == bindparam("key", None)))
INSERT = quick.Prepared(text("INSERT INTO profiles (phone_key, language) VALUES (:key, :language) RETURNING language"))


def language(database, key):
    row = quick.lone(database, LANGUAGE, {"key": key})
    return row[0] if row else None


def test_a_unit_commits_what_it_wrote(database):
    with quick.unit(database) as unit:
        assert unit.first(INSERT, {"key": "k1", "language": "sw"}) == ("sw",)
        assert unit.mappings(LANGUAGE, {"key": "k1"}) == [{"language": "sw"}]   # its own write, before COMMIT
    assert language(database, "k1") == "sw"


def test_a_unit_that_fails_writes_nothing(database):
    with pytest.raises(RuntimeError):
        with quick.unit(database) as unit:
            unit.first(INSERT, {"key": "k2", "language": "en"})
            raise RuntimeError("the use case refused")
    assert language(database, "k2") is None


def test_a_driver_error_is_sqlalchemys_and_the_pool_stays_usable(database):
    quick.lone(database, INSERT, {"key": "k3", "language": "en"})
    for _ in range(3):
        with pytest.raises(IntegrityError):
            with quick.unit(database) as unit:
                unit.first(INSERT, {"key": "k3", "language": "sw"})
    assert language(database, "k3") == "en"
    with database.transaction() as session:   # the ORM's connections from the same pool are clean
        assert session.scalar(select(Profile.language).where(Profile.phone_key == "k3")) == "en"


def test_a_lone_statement_is_one_trip_and_a_unit_is_begun_and_committed(database):
    heard = []
    stop = database.on_statement(lambda kind, _sql: heard.append(kind))
    try:
        quick.lone(database, INSERT, {"key": "k4", "language": "en"})
        lone = list(heard)
        with quick.unit(database) as unit:
            unit.first(LANGUAGE, {"key": "k4"})
    finally:
        stop()
    if database.dialect == "postgresql":
        assert lone == ["INSERT"]
        assert heard[1:] == ["BEGIN", "SELECT", "COMMIT"]
    else:   # SQLAlchemy runs them, and its own events see them
        assert heard == []


def test_a_parameter_needing_conversion_is_refused_before_anything_is_sent():
    needs_conversion = quick.Prepared(insert_once_statement(
        "postgresql", Profile, phone_key=bindparam("key", None), reminders_off=bindparam("off", None, type_=Boolean())))
    with pytest.raises(quick.QuickError, match="off"):
        needs_conversion.for_driver(postgresql.psycopg.dialect())


def test_a_constant_needing_conversion_is_converted_once():
    constant = quick.Prepared(insert_once_statement("postgresql", Profile, phone_key=bindparam("key", None),
                                                    reminders_off=True))
    sql, constants, _ = constant.for_driver(postgresql.psycopg.dialect())
    assert True in constants.values() and "%(key)s" in sql
