"""The statement pass: fetch each shortcode's M-Pesa statement for a window, match it both ways
(escrow.statement.match), and record the run (escrow.statement.runs).

Scheduled (inside the reconciler, every STATEMENT_RECONCILE_EVERY_SECONDS; 0 turns it off) the
window runs from the end of the latest complete run minus STATEMENT_OVERLAP_SECONDS (so a failed
run is simply covered by the next one) to now minus STATEMENT_SETTLE_SECONDS (M-Pesa's clock and
its statement may lag ours); the first ever window reaches back STATEMENT_FIRST_LOOKBACK_SECONDS.
No window starts earlier than Pull Transactions can reach (STATEMENT_MAX_LOOKBACK_SECONDS, under
its 48 hours). By hand: `flask reconcile statement --from --to`. Re-running a window is harmless:
lines are kept once, money in is posted once per receipt, findings are recorded once per key.
After each run, paybill confirmations held for the statement (one may quote another order's receipt:
escrow/confirmation.py) are settled by what the statement showed (escrow/statement/held.py).
No outbound call is made inside a database transaction.
"""
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import func, select, text

from escrow.context import Core
from escrow.db import Database, db_now
from escrow.errors import EscrowError
from escrow.findings import record_finding
from escrow.models import StatementRun
from escrow.ports import ProviderError
from escrow.settings import read_int
from escrow.statement.held import settle_held_confirmations
from escrow.statement.match import (apply_line, missing_from_statement, payouts_missing, report_missing,
                                    report_missing_payout)
from escrow.statement.placement import allocate_cash, roles_of
from escrow.statement.runs import COMPLETE, FAILED, StatementEntry, StatementSource, finish_run, start_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatementSettings:
    every_seconds: int = 900
    overlap_seconds: int = 3600
    settle_seconds: int = 300
    first_lookback_seconds: int = 24 * 3600
    max_lookback_seconds: int = 46 * 3600

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "StatementSettings":
        def key(name: str) -> str:
            return "STATEMENT_RECONCILE_EVERY_SECONDS" if name == "every_seconds" else f"STATEMENT_{name.upper()}"
        return cls(**{name: read_int(env, key(name), field.default)
                      for name, field in cls.__dataclass_fields__.items()})


@dataclass
class RunSummary:
    shortcode: str
    start: datetime
    end: datetime
    status: str
    counts: dict
    note: str | None = None

    def __str__(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in self.counts.items())
        note = f" ({self.note})" if self.note else ""
        return f"{self.shortcode} {self.start:%Y-%m-%d %H:%M:%S} -> {self.end:%Y-%m-%d %H:%M:%S}: {self.status}, {counts}{note}"


class StatementReconciler:
    def __init__(self, db: Database, core: Core, source: StatementSource, settings: StatementSettings):
        self.db, self.core, self.source, self.settings = db, core, source, settings
        self._last_run = time.monotonic()  # the first scheduled pass comes one interval after start

    def run_if_due(self, report) -> None:
        """A reconciler step (escrow.reconcile): one scheduled pass when its interval has passed."""
        if self.settings.every_seconds <= 0:
            return
        now = time.monotonic()
        if now - self._last_run < self.settings.every_seconds:
            return
        self._last_run = now
        for summary in self.run():
            report.add(f"statement {summary.status}")
            for what, n in summary.counts.items():
                if n and what != "lines":
                    report.add(f"statement {what}", n)

    def run(self, start: datetime | None = None, end: datetime | None = None) -> list[RunSummary]:
        """One window per shortcode: [start, end] if given, else the scheduled window."""
        summaries = []
        for shortcode, channels in self.source.statement_shortcodes().items():
            window = (start, end) if start and end else self._next_window(shortcode)
            summaries.append(self.run_window(shortcode, channels, *window))
        return summaries

    def import_lines(self, shortcode: str, entries: list[StatementEntry], start: datetime | None = None,
                     end: datetime | None = None) -> RunSummary:
        """Reconcile lines read from elsewhere (the org portal's export) as one run; the window is
        the one given, else the lines' own first and last times."""
        times = [entry.at for entry in entries if entry.at is not None]
        if not (start and end) and not times:
            raise EscrowError("no readable line to take a window from: give --from and --to")
        channels = self.source.statement_shortcodes().get(shortcode, ())  # a B2C shortcode: no money in to miss
        return self.run_window(shortcode, channels, start or min(times), end or max(times), entries=entries,
                               source="csv")

    def _next_window(self, shortcode: str) -> tuple[datetime, datetime]:
        settings = self.settings
        with self.db.transaction() as session:
            now = db_now(session)
            latest = session.scalar(select(func.max(StatementRun.window_end)).where(
                StatementRun.shortcode == shortcode, StatementRun.status == COMPLETE))
        end = now - timedelta(seconds=settings.settle_seconds)
        start = (latest - timedelta(seconds=settings.overlap_seconds) if latest
                 else end - timedelta(seconds=settings.first_lookback_seconds))
        reach = now - timedelta(seconds=settings.max_lookback_seconds)
        if latest and latest < reach:
            self._report_gap(shortcode, latest, reach)
        return max(start, reach), end

    def _report_gap(self, shortcode: str, since: datetime, until: datetime) -> None:
        """Pull Transactions no longer reaches back to where the last complete run ended: only the org
        portal's export can fill that gap, and coverage (what checked payments wait for) stops there."""
        with self.db.transaction() as session:
            record_finding(session, f"statement-gap:{shortcode}:{since:%Y%m%d%H%M}", order_id=None,
                           summary=f"{shortcode}'s statement from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} "
                                   f"UTC was never reconciled and Pull Transactions no longer reaches it: import the "
                                   f"org portal's export (flask reconcile statement --csv FILE --shortcode "
                                   f"{shortcode} --from ... --to ...)", shortcode=shortcode)

    def run_window(self, shortcode: str, channels: tuple[str, ...], start: datetime, end: datetime,
                   entries: list[StatementEntry] | None = None, source: str = "api") -> RunSummary:
        """Reconcile [start, end] of one shortcode; `entries` given (a portal export) skips the fetch.
        A window never reaches past now: coverage must not claim time that has not happened yet."""
        with self.db.transaction() as session:
            end = min(end, db_now(session))
            if start > end:
                return RunSummary(shortcode, start, end, "skipped", {}, "empty window")
            run_id = start_run(session, shortcode=shortcode, window_start=start, window_end=end, source=source)
        try:
            if entries is None:
                entries = self.source.fetch_statement(shortcode=shortcode, start=start, end=end)
        except ProviderError as error:
            return self._failed(run_id, shortcode, start, end, f"statement not fetched: {error}")
        try:
            with self.db.transaction() as session:
                _one_pass_at_a_time(session)
                summary = self._match(session, run_id, shortcode, channels, start, end, entries, source)
                summary.counts["cash placed"] = allocate_cash(session, roles_of(self.source))["allocated"]
                finish_run(session, run_id, status=summary.status, note=summary.note, **_columns(summary.counts))
                held = settle_held_confirmations(session)   # with this run's coverage (escrow/statement/held.py)
                summary.counts["held settled"] = held["settled"] + held["contradicted"]
        except Exception as error:  # the matching rolled back: nothing half done, the run says so
            log.exception("statement run %s failed", run_id)
            return self._failed(run_id, shortcode, start, end, f"{type(error).__name__}: {error}")
        log.info("statement: %s", summary)
        return summary

    def _failed(self, run_id: int, shortcode: str, start: datetime, end: datetime, note: str) -> RunSummary:
        """A failed run covers nothing (the next one starts earlier); an operator hears of it once a day,
        as orders whose payment is being checked wait for the statement's coverage."""
        log.warning("statement run for %s failed: %s", shortcode, note)
        with self.db.transaction() as session:
            finish_run(session, run_id, status=FAILED, note=note)
            record_finding(session, f"statement-failed:{shortcode}:{db_now(session).date()}", order_id=None,
                           summary=f"reconciling {shortcode}'s M-Pesa statement failed ({note[:150]}); coverage does "
                                   f"not advance until a run completes (flask reconcile statement, or --csv)",
                           shortcode=shortcode)
        return RunSummary(shortcode, start, end, FAILED, {}, note)

    def _match(self, session, run_id: int, shortcode: str, channels: tuple[str, ...], start: datetime,
               end: datetime, entries: list[StatementEntry], source: str = "api") -> RunSummary:
        outcomes: Counter = Counter()
        copies = Counter((entry.receipt, entry.kind) for entry in entries)
        for (receipt, kind), n in copies.items():
            if n > 1:
                outcomes["findings"] += 1
                record_finding(session, f"statement-duplicate:{receipt}", order_id=None,
                               summary=f"receipt {receipt} ({kind}) appears {n} times on M-Pesa's statement of "
                                       f"{shortcode}; counted once", receipt=receipt)
        for entry in entries:
            if copies[(entry.receipt, entry.kind)] == 0:
                continue
            copies[(entry.receipt, entry.kind)] = 0  # each receipt once, however often it is listed
            outcomes[apply_line(session, self.core, entry, run_id)] += 1
        for payment in missing_from_statement(session, channels, start, end):
            outcomes["missing"] += 1
            report_missing(session, payment, shortcode)
        if source == "csv" and shortcode == roles_of(self.source).get("b2c"):   # Pull carries no transfers
            for payout in payouts_missing(session, shortcode, start, end):
                outcomes["missing"] += 1
                report_missing_payout(session, payout, shortcode)
        counts = {"lines": len(entries), "matched": outcomes["matched"] + outcomes["known"],
                  "new": outcomes["new"], "missing": outcomes["missing"],
                  "findings": outcomes["findings"] + outcomes["finding"] + outcomes["unreadable"],
                  "posted": outcomes["posted"]}
        unreadable = outcomes["unreadable"]
        return RunSummary(shortcode, start, end, FAILED if unreadable else COMPLETE, counts,
                          f"{unreadable} unreadable line(s)" if unreadable else None)


def _one_pass_at_a_time(session) -> None:
    """Passes match in turn (the worker's and an operator's import, or two workers, at once): each would
    link its own line to the same payment funded on an STK query's word, neither seeing the other's link,
    and the second payment would never be booked. A transaction-scoped advisory lock on PostgreSQL, held
    until the pass's matching commits; SQLite has one writer at a time."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('zemi:statement-matching'))"))


def _columns(counts: dict) -> dict:
    return {"lines_seen": counts.get("lines", 0), "matched": counts.get("matched", 0), "new": counts.get("new", 0),
            "missing": counts.get("missing", 0), "findings": counts.get("findings", 0)}
