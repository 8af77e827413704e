"""Writes a unit of work never reads back, sent together just before it commits (issue 13).

What a use case writes as the record of what it did (the order's event, a ledger entry and its
postings, messages and the outbox rows that send them, a transfer to make) needs no answer from the
database before the commit. Such writes wait in the session and go in ONE statement just before
COMMIT, in the same transaction (all or nothing, with the facts that cause them):

- on PostgreSQL, one `WITH w0 AS (INSERT ...), w1 AS (INSERT ...) INSERT ...`: data-modifying CTEs,
  each run once, foreign keys checked at the end of the statement; a write that needs the new ids
  of the one before it (`Then`: an outbox row for its message, a ledger entry's postings) selects
  them from that CTE's RETURNING;
- on SQLite (in process: no round trips to save, and no DML in CTEs), the same statements one by one.

A unique key still decides what is written once (ON CONFLICT DO NOTHING; a ledger entry that was
already posted yields no new id, so no postings). And nothing in the unit of work can miss a waiting
row: any statement that touches a table with rows waiting sends them first.

A row whose new id the use case needs at once (a new order) is written with what follows from it by
`InsertWith`: the INSERT ... RETURNING as the first CTE of the same kind of statement, its new row
selected back, built once and run with each call's values.
"""
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import Table, event, insert, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import dml as pg_dml
from sqlalchemy.dialects.sqlite import dml as sqlite_dml
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import CTE, TextualSelect
from sqlalchemy.sql.util import find_tables

from escrow import quick

_WAITING = "zemi.writes_at_commit"


@dataclass(frozen=True)
class Then:
    """A write that needs the new rows of the one it follows: `build(new)` makes it, `new` being a
    FROM with those rows' RETURNING columns (new.c.id). `then`: a write that needs this one's new
    rows in turn (its statement then has a RETURNING)."""
    table: Table
    build: Callable
    then: "Then | None" = None

    def tables(self) -> set:
        return {self.table} | (self.then.tables() if self.then is not None else set())


@dataclass
class _Waiting:
    statements: list          # (statement, Then or None), in the order written
    tables: set               # every table they write


def insert_values(model, **values) -> Insert:
    """INSERT one row of `model`, its columns' Python-side defaults written out: SQLAlchemy fills them
    in for a top-level INSERT, not for one inside a CTE."""
    return insert(model.__table__).values(with_defaults(model.__table__, values))


def insert_once_values(session: Session, model, **values) -> Insert:
    """insert_values ... ON CONFLICT DO NOTHING, in a form SQLAlchemy's statement cache keeps. (Its
    dialect INSERTs are never cached, so a merged statement holding one would be compiled afresh on
    every commit; DO NOTHING with no target is the same clause every time, and these classes say so.)"""
    return insert_once_statement(session.get_bind().dialect.name, model, **values)


def insert_once_statement(dialect_name: str, model, **values) -> Insert:
    """insert_once_values for a dialect named (a statement built once, before any session)."""
    insert_class, do_nothing = _ONCE[dialect_name]
    statement = insert_class(model.__table__).values(with_defaults(model.__table__, values))
    statement._post_values_clause = do_nothing()   # what on_conflict_do_nothing() sets
    return statement


def with_defaults(table: Table, values: dict) -> dict:
    defaults = {column.name: column.default.arg for column in table.columns
                if column.name not in values and column.default is not None and column.default.is_scalar}
    return {**defaults, **values}


def _cacheable(base, **attributes):
    return type(f"Cacheable{base.__name__}", (base,), {"inherit_cache": True, **attributes})


_ONCE = {"postgresql": (_cacheable(postgresql.Insert),
                        _cacheable(pg_dml.OnConflictDoNothing, _traverse_internals=[])),
         "sqlite": (_cacheable(sqlite.Insert), _cacheable(sqlite_dml.OnConflictDoNothing, _traverse_internals=[]))}


def write_at_commit(session: Session, statement, then: Then | None = None) -> None:
    """Run `statement` (an INSERT or UPDATE; with RETURNING when `then` follows it) just before the
    commit, merged with the unit of work's other such writes. Inside a savepoint it runs at once: a
    write waiting past the savepoint would outlive its rollback (and what waited before it is written
    before the SAVEPOINT: escrow.db.UnitOfWork.begin_nested)."""
    if session.in_nested_transaction():
        _one_by_one(session, statement, then)
        return
    waiting = _waiting(session)
    waiting.statements.append((statement, then))
    waiting.tables.add(statement.table)
    if then is not None:
        waiting.tables |= then.tables()


def insert_at_commit(session: Session, model, **row) -> None:
    """One row of `model`, INSERT ... ON CONFLICT DO NOTHING just before the commit (with the unit of
    work's other waiting writes)."""
    write_at_commit(session, insert_once_values(session, model, **row))


class InsertWith:
    """An INSERT ... RETURNING the whole row and the writes that need its new rows (`thens`, each
    built on them as `new`), made once with bindparam() placeholders and run with each call's
    values: ONE statement on PostgreSQL (the INSERT a CTE its new rows are selected from), one after
    another on SQLite. Built once, so a hot path pays neither for building the statement nor for
    coercing its values; SQLAlchemy caches its compiled form. With ON CONFLICT DO NOTHING, a row
    already there is no new row: nothing that follows it is written."""

    def __init__(self, statement, *thens: Then, entity=None):
        self.statement, self.thens, self.entity = statement, thens, entity
        self._merged = self._prepared = None

    def run(self, session: Session, values: dict) -> list:
        """The new rows, as objects of `entity` when given (in the session, as a SELECT loads them)."""
        if session.get_bind().dialect.name == "postgresql":
            if self.entity is not None:
                return session.scalars(self._one_statement(), values).all()
            return session.execute(self._one_statement(), values).mappings().all()
        rows = self._one_by_one(session, values)
        if self.entity is None or not rows:
            return rows
        key = self.entity.__mapper__.primary_key[0]
        return session.scalars(select(self.entity).where(key.in_([row[key.name] for row in rows]))).all()

    def run_at_once(self, unit, values: dict) -> list:
        """`run` on a quick unit of work (escrow/quick.py): the same one statement sent straight to the
        driver on PostgreSQL; objects of `entity` made from the rows (in no session)."""
        if isinstance(unit, quick.AlchemyUnit):
            rows = [dict(row) for row in self._one_by_one(unit.connection, values)]
        else:
            if self._prepared is None:
                self._prepared = quick.Prepared(self._merged_rows())
            rows = unit.mappings(self._prepared, values)
        return [self.entity(**row) for row in rows] if self.entity is not None else rows

    def _one_by_one(self, executor, values: dict) -> list:
        """SQLite: the INSERT, then each write on its new rows (`executor`: a session or a connection)."""
        rows = executor.execute(self.statement, values).mappings().all()
        if rows:
            for then in self.thens:
                _one_by_one(executor, then.build(_as_from(rows)), then.then, values)
        return rows

    def _ctes(self):
        new = self.statement.cte("new")
        return new, [cte for index, then in enumerate(self.thens) for cte in _ctes_after(new, then, f"w_{index}")]

    def _one_statement(self):
        if self._merged is None:
            new, ctes = self._ctes()
            self._merged = select(aliased(self.entity, new) if self.entity is not None else new).add_cte(*ctes)
        return self._merged

    def _merged_rows(self):
        """The same statement selecting the new rows' columns by name (no ORM entity)."""
        new, ctes = self._ctes()
        return select(new).add_cte(*ctes)


def _ctes_after(new, then: Then, name: str) -> list:
    """`then` built on `new` as a CTE, and what follows it on its own new rows."""
    statement = then.build(new).cte(name)
    return [statement] + (_ctes_after(statement, then.then, f"{name}_then") if then.then is not None else [])


def write_now(session: Session) -> None:
    """Send the waiting writes (in one statement on PostgreSQL); nothing if none wait."""
    waiting = session.info.pop(_WAITING, None)
    if waiting is None:
        return
    statements = waiting.statements
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_merged(statements))
    else:
        for statement, then in statements:
            _one_by_one(session, statement, then)


def _merged(statements: list):
    """One statement: every write but the last as a CTE, the last as the main statement."""
    parts = []
    for index, (statement, then) in enumerate(statements):
        while then is not None:   # a write, then each write on the new rows of the one before
            new = statement.cte(f"new_{index}_{len(parts)}")
            parts.append(new)
            statement, then = then.build(new), then.then
        parts.append(statement)
    *before, last = parts
    ctes = [part if isinstance(part, CTE) else part.cte(f"w_{index}") for index, part in enumerate(before)]
    return last.add_cte(*ctes) if ctes else last


def _one_by_one(session: Session, statement, then: Then | None, values: dict | None = None) -> None:
    result = session.execute(statement, values)
    if then is None:
        return
    rows = result.mappings().all()
    if rows:
        _one_by_one(session, then.build(_as_from(rows)), then.then, values)


def _as_from(rows):
    """Rows already read back, as a FROM a following write can select from (SQLite)."""
    return union_all(*[select(*[literal(value).label(name) for name, value in row.items()])
                       for row in rows]).subquery("new")


def _waiting(session: Session) -> _Waiting:
    waiting = session.info.get(_WAITING)
    if waiting is None:
        waiting = session.info[_WAITING] = _Waiting([], set())
    return waiting


@event.listens_for(Session, "before_commit")
def _write_at_commit(session: Session) -> None:
    if _WAITING in session.info:
        session.flush()   # objects added to the session first: a waiting row may refer to them
        write_now(session)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    """Rolled back or closed without a commit: what waited is dropped with the rest (a savepoint's end
    is not the unit of work's)."""
    if transaction.parent is None:
        session.info.pop(_WAITING, None)


@event.listens_for(Session, "do_orm_execute")
def _write_before_touching(state) -> None:
    """A statement that touches a table with rows waiting (or whose tables cannot be told: text)
    sends them first."""
    waiting = state.session.info.get(_WAITING)
    if waiting is None:
        return
    tables = _tables_of(state.statement)
    if tables is None or any(_base(table) in waiting.tables for table in tables):
        write_now(state.session)


def _tables_of(statement) -> set | None:
    """The tables a statement touches; None when it cannot be told (SQL text). A text statement typed
    with its result columns (escrow.db's cached INSERTs, RETURNING the key) touches their table."""
    if isinstance(statement, TextualSelect):
        return {column.table for column in statement.column_args if getattr(column, "table", None) is not None} \
            or None
    if isinstance(statement, TextClause):
        return None
    return set(find_tables(statement, include_crud=True, include_aliases=True, include_selects=True))


def _base(table):
    return getattr(table, "element", table)
