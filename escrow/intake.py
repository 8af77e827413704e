"""Callback intake: keep every callback, then turn it into its effect, mapping every error in one place.

1. `keep` stores the raw body in one INSERT. If the database cannot take it, the callback goes to
   the journal (escrow.callback_journal), flushed to disk; only if that fails too does the caller
   get `CallbackNotKept` (the endpoint answers 503 and the provider retries).
2. `process` runs a source's processor (registered by its adapter: parse, then apply through a use
   case) on a stored callback. Whatever it raises is mapped here: a database that went away leaves
   the row `received` for the next pass; anything else marks it `malformed` with the reason, so it
   is listed by `flask callbacks list --review`. A processor never makes a route answer 500.
3. `replay_journal` (the worker, every pass) moves journaled callbacks into the database, each once
   (dedupe key `journal:<record id>`), and processes them; `process_received` (the reconcile pass)
   retries rows still `received` after RECEIVED_RETRY_AFTER (a web worker that died mid-request),
   and after UNPROCESSABLE_AFTER flags (a finding) one from a source that has no processor here.
4. Store-then-acknowledge (CALLBACK_APPLY=worker, `defer(source)`): the route only keeps the body
   and answers; `apply_waiting` (the worker, every pass and between passes) claims fresh `received`
   rows of the sources a web server may defer (DEFERRABLE), whatever this process's own setting:
   CALLBACK_APPLY is read per process, and web servers on `worker` with a worker left on `inline`
   must not leave money in waiting for the reconcile pass. A route that applies inline keeps its
   row already leased to itself, so no worker takes it while the route applies it. Every claim,
   here and in `process_received`, takes a lease (`leased_until`, FOR UPDATE SKIP LOCKED on
   PostgreSQL; SQLite's write lock serialises claims), so two workers never process one row at
   once; a worker (or inline route) that dies lets its rows go when the lease ends.
"""
import logging
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from escrow.callback_journal import CallbackJournal, JournalError
from escrow.context import Core
from escrow.db import Database, db_now, insert_once, insert_row, later, utcnow
from escrow.errors import EscrowError
from escrow.findings import record_finding
from escrow.inbox import callback_row, mark_callback, mark_callback_alone, raw_body, raw_bytes, seal_form
from escrow.models import InboundCallback
from escrow.phone import mask_numbers_in

log = logging.getLogger(__name__)

RECEIVED_RETRY_AFTER = timedelta(seconds=60)
LEASE = timedelta(seconds=30)   # a claimed row is another worker's again after this (its claimer died)
UNPROCESSABLE_AFTER = timedelta(hours=1)   # a source with no processor here: its own route had this long
BATCH = 50
DEFERRABLE = frozenset({"stk"})   # sources a web server may answer once stored (CALLBACK_APPLY=worker)
_INSERT = insert(InboundCallback.__table__).returning(InboundCallback.id)
_INSERT_LEASED = (insert(InboundCallback.__table__).values(leased_until=later(int(LEASE.total_seconds())))
                  .returning(InboundCallback.id))   # kept by a route that applies it itself
# (raw body as text, stored callback id) -> outcome; registered per source by the adapters.
Processor = Callable[[str, int], str]
# The attempt id a journaled callback's path carried (/hooks/stk/<token>/a<id>), while it is replayed.
_REPLAYED_ATTEMPT: ContextVar = ContextVar("replayed_attempt", default=None)


def replayed_attempt_id():
    """For a processor running outside a request: the path attempt id of the journal record it replays."""
    return _REPLAYED_ATTEMPT.get()


class CallbackNotKept(EscrowError):
    """Neither the database nor the journal could keep a callback: answer non-2xx so it is sent again."""


class CallbackIntake:
    def __init__(self, db: Database, core: Core, journal: CallbackJournal | None = None):
        self.db, self.core, self.journal = db, core, journal
        self.processors: dict[str, Processor] = {}
        self.deferred: set[str] = set()   # sources acknowledged once stored, applied by the worker
        self._autocommit = (db.engine.execution_options(isolation_level="AUTOCOMMIT")
                            if db.dialect == "postgresql" else None)

    def register(self, source: str, processor: Processor) -> None:
        self.processors[source] = processor

    def defer(self, source: str) -> None:
        """Callbacks from `source` are answered once stored; the worker applies them (apply_waiting)."""
        if source not in DEFERRABLE:
            raise ValueError(f"{source} callbacks are applied by their route")
        self.deferred.add(source)

    def defers(self, source: str) -> bool:
        return source in self.deferred and source in self.processors

    # --- 1. keeping ----------------------------------------------------------------------
    def keep(self, *, source: str, body: bytes, remote_addr: str | None, status: str = "received",
             note: str | None = None, attempt_id: str | None = None) -> int | None:
        """The stored callback's id, or None when it went to the journal (acknowledge it: the
        worker applies it once the database is back)."""
        try:
            return self._store(callback_row(self.core.vault, source=source, body=body, remote_addr=remote_addr,
                                            status=status, note=note),
                               None if attempt_id is None else int(attempt_id),
                               leased=status == "received" and source in DEFERRABLE and not self.defers(source))
        except Exception as error:  # noqa: BLE001 -- SQLAlchemy's or the driver's own (psycopg raises some unwrapped)
            if self.journal is None or source not in self.processors:  # nothing could apply it later: 503
                raise CallbackNotKept(f"database refused a {source} callback and it cannot be journaled") from error
            try:
                record_id = self.journal.append(self.journal_record(
                    source=source, body=body, remote_addr=remote_addr, status=status, note=note,
                    attempt_id=attempt_id))
            except JournalError as journal_error:
                log.error("%s callback NOT kept: database (%s) and journal (%s) both failed; answering 503",
                          source, type(error).__name__, journal_error)
                raise CallbackNotKept(str(journal_error)) from error
            log.warning("%s callback kept in the journal as %s: the database refused it (%s)", source, record_id,
                        type(error).__name__)
            return None

    def _store(self, row: dict, attempt_id: int | None, leased: bool = False) -> int:
        """One INSERT, committed before it returns. On PostgreSQL it runs on its own outside any
        transaction (one round trip, not BEGIN, INSERT, COMMIT); the URL's attempt id is kept for
        the worker. `leased`: the route applies it itself, so the row is born leased for LEASE."""
        if attempt_id is not None:
            row = {**row, "path_attempt_id": attempt_id}
        if self._autocommit is None:
            with self.db.transaction() as session:
                if leased:
                    return session.execute(_INSERT_LEASED, row).scalar_one()
                return insert_row(session, InboundCallback, **row)
        with self._autocommit.connect() as connection:   # one statement, compiled once
            return connection.execute(_INSERT_LEASED if leased else _INSERT, row).scalar_one()

    def journal_record(self, *, source: str, body: bytes, remote_addr: str | None, status: str = "received",
                       note: str | None = None, attempt_id: str | None = None) -> dict:
        return {"source": source, "remote_addr": remote_addr, "attempt_id": attempt_id, "status": status,
                "note": note, "received_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(),
                "sealed": self.core.vault.seal(seal_form(bytes(body)))}

    # --- 2. processing: the one place errors are mapped ------------------------------------
    def process(self, callback_id: int, source: str, raw: str, processor: Processor | None = None) -> str:
        """Run `processor` (default: the one registered for `source`) with every error mapped."""
        processor = processor or self.processors.get(source)
        if processor is None:
            return "received"
        try:
            return self._run(processor, raw, callback_id)
        except DBAPIError as error:
            if error.connection_invalidated or _is_disconnect(error):
                log.warning("%s callback #%s left for the next pass: database unavailable", source, callback_id)
                return "received"
            return self._malformed(callback_id, source, error)
        except Exception as error:  # noqa: BLE001 -- the whole point: no callback error escapes as a 500
            return self._malformed(callback_id, source, error)

    @staticmethod
    def _run(processor: Processor, raw: str, callback_id: int) -> str:
        """A unique-key conflict is most often a concurrent twin that won the race: run once more,
        when the use case sees what the twin wrote (and says 'duplicate'); a second one is real."""
        try:
            return processor(raw, callback_id)
        except IntegrityError:
            log.info("callback #%s met a conflicting write: applying it once more", callback_id)
            return processor(raw, callback_id)

    def _malformed(self, callback_id: int, source: str, error: Exception) -> str:
        reason = f"could not be applied: {type(error).__name__}: {_first_line(error)}"
        log.error("%s callback #%s %s", source, callback_id, reason[:60])
        try:
            mark_callback_alone(self.db, callback_id, "malformed", mask_numbers_in(reason))
        except SQLAlchemyError:
            log.warning("%s callback #%s stays received: could not mark it", source, callback_id)
            return "received"
        return "malformed"

    # --- 3. catching up ----------------------------------------------------------------------
    def replay_journal(self) -> int:
        """Journaled callbacks into the database and through their processors; how many were new."""
        if self.journal is None:
            return 0
        replayed = 0
        for path, records in self.journal.batches():
            new = []
            for record in records:
                callback_id = self._insert_journaled(record)
                if callback_id is not None:
                    new.append((callback_id, record))
            for callback_id, record in new:
                if record.get("status", "received") == "received":
                    token = _REPLAYED_ATTEMPT.set(record.get("attempt_id"))
                    try:
                        self.process(callback_id, record["source"], _unsealed_text(self.core, record))
                    finally:
                        _REPLAYED_ATTEMPT.reset(token)
            self.journal.done(path)
            replayed += len(new)
            if new:
                log.info("callback journal: %s callback(s) replayed from %s", len(new), path.name)
        return replayed

    def _insert_journaled(self, record: dict) -> int | None:
        """One record in its own transaction, so one the database refuses cannot hold up the rest:
        it is kept sealed with a placeholder review copy, `malformed`. A database that is down
        again raises, and the file is replayed on the next pass."""
        try:
            with self.db.transaction() as session:
                return _insert_journaled(session, self.core, record)
        except (DBAPIError, EscrowError) as error:   # EscrowError: the seal does not open (DATA_KEY changed)
            if isinstance(error, DBAPIError) and (error.connection_invalidated or _is_disconnect(error)):
                raise
            log.error("journal record %s could not be stored as it is (%s): kept as malformed", record.get("id"),
                      type(error).__name__)
            with self.db.transaction() as session:
                return _insert_journaled(session, self.core, record, refused=type(error).__name__)

    def applies_waiting(self) -> bool:
        """Whether apply_waiting has anything to look for: a processor for a DEFERRABLE source."""
        return bool(self._waiting_sources())

    def _waiting_sources(self) -> list[str]:
        return sorted(DEFERRABLE & set(self.processors))

    def apply_waiting(self, limit: int = BATCH) -> int:
        """Fresh `received` rows of the sources a web server may defer, claimed and processed (whether
        or not this process defers them: web servers and worker may be set apart); how many."""
        sources = self._waiting_sources()
        if not sources:
            return 0
        claimed = self._claim(InboundCallback.source.in_(sources), limit)
        for row in claimed:
            self._process_row(row)
        return len(claimed)

    def process_received(self) -> dict:
        """Rows still `received` after RECEIVED_RETRY_AFTER: processed again, or flagged."""
        counts: dict[str, int] = {}
        with self.db.transaction() as session:
            cutoff = db_now(session) - RECEIVED_RETRY_AFTER
            give_up = db_now(session) - UNPROCESSABLE_AFTER
        stuck = self._claim(and_(InboundCallback.received_at <= cutoff,
                                 or_(InboundCallback.source.in_(list(self.processors)),
                                     InboundCallback.received_at <= give_up)), BATCH)
        for callback_id, source, body, body_sealed, attempt_id in stuck:
            if source not in self.processors:
                with self.db.transaction() as session:
                    mark_callback(session, callback_id, "unprocessable", f"no processor for {source!r}")
                    record_finding(session, f"callback-unprocessable:{callback_id}", order_id=None,
                                   summary=f"{source} callback #{callback_id} has no processor; look at it by hand",
                                   callback_id=callback_id)
                outcome = "unprocessable"
            else:
                outcome = self._process_row((callback_id, source, body, body_sealed, attempt_id))
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def _claim(self, condition, limit: int) -> list:
        """`received` rows meeting `condition` that no live lease holds, oldest first, leased to this
        worker: [(id, source, body, body_sealed, path_attempt_id)]. One statement, on PostgreSQL
        outside any transaction (one round trip, also when nothing waits: the worker polls with it):
        UPDATE ... SET leased_until = now + LEASE WHERE id IN (the rows picked FOR UPDATE SKIP
        LOCKED) RETURNING them. The pick is a CTE materialized once, so no more than `limit` rows are
        leased; a row another claimer holds is skipped, and its new lease makes it not free."""
        table = InboundCallback.__table__
        free = or_(table.c.leased_until.is_(None), table.c.leased_until < utcnow())
        pick = (select(table.c.id).where(table.c.status == "received", free, condition)
                .order_by(table.c.id).limit(limit))
        if self.db.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        picked = pick.cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
        statement = (update(table).where(table.c.id.in_(select(picked.c.id)))
                     .values(leased_until=later(int(LEASE.total_seconds())))
                     .returning(table.c.id, table.c.source, table.c.body, table.c.body_sealed,
                                table.c.path_attempt_id))
        if self._autocommit is None:
            with self.db.transaction() as session:
                rows = session.execute(statement).all()
        else:
            with self._autocommit.connect() as connection:
                rows = connection.execute(statement).all()
        return sorted(rows, key=lambda row: row[0])   # RETURNING keeps no order

    def _process_row(self, row) -> str:
        callback_id, source, body, body_sealed, attempt_id = row
        token = _REPLAYED_ATTEMPT.set(attempt_id)
        try:
            return self.process(callback_id, source, raw_body(self.core.vault, body, body_sealed))
        finally:
            _REPLAYED_ATTEMPT.reset(token)


def _insert_journaled(session: Session, core: Core, record: dict, refused: str | None = None) -> int | None:
    """Insert one journal record once (its id is the dedupe key); the new row's id, or None if it was in."""
    key = f"journal:{record['id']}"
    sealed = record["sealed"]
    raw = b"(not shown: the database refused this body; see --reveal)" if refused else _unsealed_bytes(core, record)
    row = callback_row(core.vault, source=str(record.get("source") or "unknown"), body=raw,
                       remote_addr=str(record.get("remote_addr") or ""),
                       status="malformed" if refused else str(record.get("status") or "received"),
                       note=f"journaled; the database refused it ({refused})" if refused else record.get("note"),
                       sealed=sealed)
    received_at = _received_at(record)
    if received_at is not None:
        row["received_at"] = received_at
    if row["status"] == "received":   # replay_journal applies it next: born leased, so no other claim takes it
        row["leased_until"] = db_now(session) + LEASE
    if not insert_once(session, InboundCallback, dedupe_key=key, **row):
        return None
    return session.scalar(select(InboundCallback.id).where(InboundCallback.dedupe_key == key))


def _unsealed_bytes(core: Core, record: dict) -> bytes:
    return raw_bytes(core.vault, "", record["sealed"])


def _unsealed_text(core: Core, record: dict) -> str:
    return raw_body(core.vault, "", record["sealed"])


def _received_at(record: dict):
    try:
        return datetime.fromisoformat(str(record.get("received_at")))
    except ValueError:
        return None


def _is_disconnect(error: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError
    return isinstance(error, (OperationalError, InterfaceError))


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [""])[0][:200]
