"""Engine and unit-of-work helpers. SQLite by default, PostgreSQL in production."""
import select as io_select
import time
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import DateTime, Integer, bindparam, create_engine, event, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from escrow.writes import write_now


class utcnow(FunctionElement):
    """The database's clock, in naive UTC: timers and deadlines are judged by it, not by a worker's clock."""

    type = DateTime()
    inherit_cache = True


@compiles(utcnow, "postgresql")
def _pg_utcnow(element, compiler, **kw):
    return "(now() AT TIME ZONE 'utc')"


@compiles(utcnow, "sqlite")
def _sqlite_utcnow(element, compiler, **kw):
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


class ago(FunctionElement):
    """The database's clock less a number of seconds, in naive UTC: a cutoff for counting recent
    rows in the same statement that reads the clock (no round trip to read it first)."""

    type = DateTime()
    inherit_cache = True

    def __init__(self, seconds: int):
        super().__init__(literal(int(seconds), Integer()))


@compiles(ago, "postgresql")
def _pg_ago(element, compiler, **kw):
    return f"((now() AT TIME ZONE 'utc') - make_interval(secs => {compiler.process(element.clauses, **kw)}))"


@compiles(ago, "sqlite")
def _sqlite_ago(element, compiler, **kw):
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ({seconds}) || ' seconds')"


class later(FunctionElement):
    """The database's clock plus a number of seconds, in naive UTC: a deadline written by the statement
    that reads the clock (no round trip to read it first)."""

    type = DateTime()
    inherit_cache = True

    def __init__(self, seconds: int):
        super().__init__(literal(int(seconds), Integer()))


@compiles(later, "postgresql")
def _pg_later(element, compiler, **kw):
    return f"((now() AT TIME ZONE 'utc') + make_interval(secs => {compiler.process(element.clauses, **kw)}))"


@compiles(later, "sqlite")
def _sqlite_later(element, compiler, **kw):
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || ({seconds}) || ' seconds')"


def db_now(session: Session):
    """The database's clock, read once per unit of work and reused: PostgreSQL's now() is the
    transaction's start anyway, and every read costs a round trip."""
    now = session.info.get(_NOW)
    if now is None:
        now = session.info[_NOW] = session.scalar(select(utcnow()))
    return now


def remember_now(session: Session, now) -> None:
    """The database's clock as read alongside another statement (a RETURNING or a SELECT column):
    db_now then costs no round trip of its own. The first reading of a unit of work stands."""
    session.info.setdefault(_NOW, now)


def _forget_now(session: Session) -> None:
    session.info.pop(_NOW, None)


_NOW = "zemi.db_now"


def normalize_database_url(url: str) -> str:
    """Accept hosting providers' postgres:// and postgresql:// forms with the installed psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


# A PostgreSQL that stops answering (a network partition, not a refused connection) must fail a
# request in seconds, so a callback falls back to the journal instead of hanging the worker.
CONNECT_TIMEOUT_SECONDS = 3


def make_engine(url: str):
    """`hide_parameters`: a database error's message (which reaches the logs) names the statement but
    not its values, which may be a raw callback body with a phone number in it."""
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10, hide_parameters=True,
                           connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", lambda dbapi, record, _proxy: _ping_if_idle(engine.dialect, dbapi, record))
    return engine


# A connection back from the pool is pinged (a round trip) only if it sat idle this long, or if its
# server said something unasked (below): a busy pool's connections answered a moment ago, and a
# ping on every checkout cost each unit of work a trip.
PING_AFTER_IDLE_SECONDS = 2.0
_CHECKED_IN = "zemi.checked_in"


def _note_checkin(_dbapi_connection, record) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dialect, dbapi_connection, record) -> None:
    """Pessimistic disconnect handling: DisconnectionError makes the pool discard this connection and
    check out another (SQLAlchemy retries the checkout)."""
    idle_since = record.info.get(_CHECKED_IN)
    if idle_since is None:
        return   # fresh from connect: it just answered
    if time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS and not _server_spoke(dbapi_connection):
        return   # in use a moment ago, and its server has not gone since
    try:
        dialect.do_ping(dbapi_connection)   # SELECT 1 outside a transaction: one round trip
    except Exception as error:  # noqa: BLE001 -- any failure: this connection is not to be trusted
        raise DisconnectionError(f"idle connection failed its ping: {type(error).__name__}") from error


def _server_spoke(dbapi_connection) -> bool:
    """Whether an idle connection has something to read. A healthy one has nothing: everything its
    last statement was answered with was read. A server that shut down or crashed (PostgreSQL
    restarted in a quarter of a second) said goodbye or closed the socket, so the connection is
    readable: one poll(2), no round trip. A server that vanished without a word (a partition) is the
    idle ping's and the connect timeout's to find."""
    try:
        descriptor = dbapi_connection.fileno()
    except Exception:  # noqa: BLE001 -- closed already
        return True
    readiness = io_select.poll()
    readiness.register(descriptor, io_select.POLLIN)
    return bool(readiness.poll(0))


def _sqlite_pragmas(dbapi_connection, _record):
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection):
    """Take SQLite's write lock at the start of every transaction, so two writers serialize
    instead of failing on lock upgrade; SQLite has no row locks (FOR UPDATE is ignored)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class UnitOfWork(Session):
    def begin_nested(self):
        """What waits for the commit (escrow/writes.py) belongs to the enclosing transaction: written
        before the SAVEPOINT, so that a rollback to it cannot take it along."""
        write_now(self)
        return super().begin_nested()


class Database:
    """Owns the engine and hands out one session per unit of work."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._sessions = sessionmaker(self.engine, class_=UnitOfWork, expire_on_commit=False)
        event.listen(self._sessions, "after_commit", _forget_now)
        event.listen(self._sessions, "after_rollback", _forget_now)
        # PostgreSQL reads outside a transaction: no BEGIN and no ROLLBACK round trip around them.
        self._autocommit = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                            if self.dialect == "postgresql" else None)
        self._statement_listeners: list = []

    def on_statement(self, listener):
        """`listener(kind, sql)` hears each trip escrow/quick.py makes (BEGIN, a statement, COMMIT,
        ROLLBACK), which SQLAlchemy's engine events do not see: the round-trip tests count both.
        Returns what stops it hearing."""
        self._statement_listeners.append(listener)
        return lambda: self._statement_listeners.remove(listener)

    def heard(self, kind: str, sql: str) -> None:
        for listener in self._statement_listeners:
            listener(kind, sql)

    def read_scalar(self, statement):
        """One SELECT's first value, outside any unit of work: for a lone read on a hot path (a
        caller's language on their first dial). SQLite reads it in a plain transaction."""
        if self._autocommit is None:
            with self.transaction() as session:
                return session.scalar(statement)
        with self._autocommit.connect() as connection:
            return connection.scalar(statement)

    @contextmanager
    def transaction(self):
        """One unit of work: commit on success, roll back on any exception."""
        session: Session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self):
        self.engine.dispose()


def insert_once(session: Session, model, **values) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING: True when this call inserted the row.

    Idempotency rests on the table's unique constraints, so concurrent duplicates
    resolve inside the database rather than by check-then-insert.
    """
    return insert_new(session, model, **values) is not None


def insert_new(session: Session, model, **values):
    """insert_once that tells the new row's primary key, or None when the row was there already."""
    return _insert(session, model, values, skip_conflicts=True).scalar()


def insert_new_object(session: Session, model, **values):
    """insert_once that hands back the new row as an ORM object (INSERT ... RETURNING the whole
    row: no SELECT to load what was just written), or None when the row was there already."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(model).values(**values).on_conflict_do_nothing().returning(model)
    return session.scalars(statement).first()


def insert_row(session: Session, model, **values):
    """Plain INSERT returning the new primary key."""
    return _insert(session, model, values, skip_conflicts=False).scalar_one()


def _insert(session: Session, model, values: dict, *, skip_conflicts: bool):
    statement, defaults = _insert_statement(session.get_bind().dialect.name, model.__table__,
                                            tuple(sorted(values)), skip_conflicts)
    return session.execute(statement, {**defaults, **values})


@lru_cache(maxsize=512)
def _insert_statement(dialect_name: str, table, names: tuple[str, ...], skip_conflicts: bool):
    """INSERT [... ON CONFLICT DO NOTHING] RETURNING <key> for these columns, as a text statement
    built once, and the Python-side defaults of the columns not named. (SQLAlchemy 2.0 compiles its
    dialect-specific INSERT afresh on every call, and coerces every value of a fresh insert() in
    Python: a hot path pays for both on each row.)"""
    defaults = {}
    for column in table.columns:
        if column.name in names or column.default is None:
            continue
        if not column.default.is_scalar:
            raise ValueError(f"inserting into {table.name} needs {column.name} (its default is computed)")
        defaults[column.name] = column.default.arg
    columns = names + tuple(defaults)
    typed = [bindparam(name, type_=table.c[name].type) for name in columns]
    module = postgresql if dialect_name == "postgresql" else sqlite
    statement = module.insert(table).values(dict(zip(columns, typed)))
    if skip_conflicts:
        statement = statement.on_conflict_do_nothing()
    statement = statement.returning(*table.primary_key.columns)
    sql = str(statement.compile(dialect=module.dialect(paramstyle="named")))
    return text(sql).bindparams(*typed).columns(*table.primary_key.columns), defaults
