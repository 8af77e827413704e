"""Statements a hot path sends straight to the database driver (issue 13).

A USSD hop that reads a language, looks at the limits or writes an order spent more CPU in
SQLAlchemy (an ORM session begun and closed, each statement's execution context, the pool's
connection wrapped for every lone read) than in the statements themselves. Here a Core statement is
compiled ONCE per dialect (`Prepared`) and, on PostgreSQL, run on the pooled psycopg connection
itself:

- `lone(db, prepared, params)`: one statement outside any transaction (autocommit for that
  statement only): one round trip, no BEGIN or COMMIT;
- `unit(db)`: a transaction (psycopg's BEGIN, the statements, COMMIT, or ROLLBACK on any error).

Same SQL, same transaction semantics, same pool (its checkout ping and checkin apply). Values go to
psycopg as they are: a statement whose parameters or result columns would need SQLAlchemy's type
conversion on that dialect is refused when it is first compiled, so nothing is ever sent or read
back unconverted. A driver error is raised as SQLAlchemy's (DBAPIError and its kinds); a lost
connection is invalidated with the rest of the pool, as SQLAlchemy does. SQLite runs the same
statements through SQLAlchemy (in process there are no round trips to save, and its dates need the
conversion).

`Database.on_statement(listener)` hears each trip (BEGIN, the statement, COMMIT, ROLLBACK) as
SQLAlchemy's events do for the rest: tests/integration/test_round_trips.py counts both.
"""
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from escrow.errors import EscrowError

POSTGRESQL = "postgresql"


class QuickError(EscrowError):
    """A statement that cannot go straight to the driver (it needs SQLAlchemy's type conversion)."""


class Prepared:
    """A Core statement (parameters as bindparam() names) compiled once per dialect."""

    def __init__(self, statement):
        self.statement = statement
        self._driver = {}

    def for_driver(self, dialect) -> tuple:
        """(SQL in the driver's paramstyle, the statement's own constant values, result column names)."""
        found = self._driver.get(dialect.name)
        if found is None:
            found = self._driver[dialect.name] = _compile(self.statement, dialect)
        return found


def _compile(statement, dialect) -> tuple:
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    processors = {name: process for name, process in (compiled._bind_processors or {}).items() if process}
    constants = {}
    for name, value in compiled.construct_params(_check=False).items():
        if value is None:   # given at each run: it must need no conversion
            if name in processors:
                raise QuickError(f"parameter {name!r} needs SQLAlchemy's conversion on {dialect.name}")
            continue
        constants[name] = processors[name](value) if name in processors else value   # converted once, here
    names = []
    for entry in compiled._result_columns:
        if entry.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
            raise QuickError(f"result column {entry.keyname!r} needs SQLAlchemy's conversion on {dialect.name}")
        names.append(entry.keyname)
    return str(compiled), constants, tuple(names)


def lone(db, prepared: Prepared, params: dict):
    """`prepared` alone, outside any transaction: its first row (a tuple), or None."""
    if db.dialect != POSTGRESQL:
        with db.engine.begin() as connection:
            row = connection.execute(prepared.statement, params).first()
            return tuple(row) if row is not None else None
    with _Checkout(db) as held:
        held.call("autocommit on", lambda: setattr(held.raw, "autocommit", True))
        try:
            return held.send(prepared, params, _first)
        finally:
            if held.lost is None:
                held.call("autocommit off", lambda: setattr(held.raw, "autocommit", False))


@contextmanager
def unit(db):
    """One transaction whose statements go straight to the driver: committed when the block ends,
    rolled back on any exception."""
    if db.dialect != POSTGRESQL:
        with db.engine.begin() as connection:
            yield AlchemyUnit(connection)
        return
    with _Checkout(db) as held:
        work = DriverUnit(held)
        try:
            yield work
        except BaseException:
            work.rollback()
            raise
        work.commit()


class DriverUnit:
    """A transaction on psycopg's connection: psycopg sends BEGIN before the first statement."""

    def __init__(self, held: "_Checkout"):
        self.held, self.begun = held, False

    def first(self, prepared: Prepared, params: dict):
        return self._run(prepared, params, _first)

    def mappings(self, prepared: Prepared, params: dict) -> list:
        return self._run(prepared, params, _mappings)

    def _run(self, prepared, params, fetch):
        if not self.begun:
            self.begun = True
            self.held.db.heard("BEGIN", "BEGIN")
        return self.held.send(prepared, params, fetch)

    def commit(self) -> None:
        if self.begun:
            self.held.db.heard("COMMIT", "COMMIT")
            self.held.call("COMMIT", self.held.raw.commit)

    def rollback(self) -> None:
        if self.begun and self.held.lost is None:
            self.held.db.heard("ROLLBACK", "ROLLBACK")
            try:
                self.held.raw.rollback()
            except Exception:  # noqa: BLE001 - the error that got us here is the one to raise
                pass


class AlchemyUnit:
    """The same calls through SQLAlchemy (SQLite)."""

    def __init__(self, connection):
        self.connection = connection

    def first(self, prepared: Prepared, params: dict):
        row = self.connection.execute(prepared.statement, params).first()
        return tuple(row) if row is not None else None

    def mappings(self, prepared: Prepared, params: dict) -> list:
        return [dict(row) for row in self.connection.execute(prepared.statement, params).mappings()]


def _first(cursor, _names):
    return cursor.fetchone() if cursor.description else None


def _mappings(cursor, names):
    return [dict(zip(names, row)) for row in cursor.fetchall()]


class _Checkout:
    """A pooled connection (the pool's checkout ping applies), back to the pool at the end. A driver
    error is raised as SQLAlchemy's; a lost connection invalidates the pool (each older connection is
    replaced at its next checkout), as SQLAlchemy does on a disconnect."""

    def __init__(self, db):
        self.db, self.lost = db, None
        self.proxied = db.engine.raw_connection()
        self.raw = self.proxied.dbapi_connection

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        if self.lost is None:
            self.proxied.close()
        else:
            self.db.engine.pool._invalidate(self.proxied, self.lost)   # also hands it back, closed

    def send(self, prepared: Prepared, params: dict, fetch):
        sql, constants, names = prepared.for_driver(self.db.engine.dialect)
        self.db.heard(sql.split(None, 1)[0].upper(), sql)
        values = {**constants, **params} if constants else params
        return self.call(sql, lambda: fetch(self.raw.execute(sql, values), names))

    def call(self, sql: str, call):
        dialect = self.db.engine.dialect
        try:
            return call()
        except dialect.loaded_dbapi.Error as error:
            lost = self.raw.closed or dialect.is_disconnect(error, self.raw, None)
            if lost:
                self.lost = error
            raise sa_exc.DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
                                             dialect=dialect, connection_invalidated=lost) from error
