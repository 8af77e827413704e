"""Statement runs: which windows of M-Pesa's own statement have been reconciled, and how far back
without a gap (issue 12).

Each pass over a window of one shortcode's statement is a `statement_runs` row: 'running' while
pages are fetched and matched, then 'complete' (every page seen) or 'failed'. Coverage is read from
the complete runs only, merged where their windows touch or overlap: `covered_until` is the end of
that chain, counted from the earliest complete run, so a gap (a failed window never re-done) stops
it until someone fills the gap (a later pass with an earlier start, or a portal statement import).
A gap therefore delays what waits on coverage; it never lets it through early.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.db import db_now, insert_row
from escrow.models import StatementRun



@dataclass(frozen=True)
class StatementEntry:
    """One line of a shortcode's M-Pesa statement, in the core's words. `amount` is whole KES,
    positive in; `at` is naive UTC; `party` is the payer's number as given (clear, masked or
    hashed); `problem` says why the adapter could not read the line (the rest is then best effort);
    only a `movement` of "payment" is matched against money in, anything else is kept as it is."""
    shortcode: str
    receipt: str
    at: datetime | None
    kind: str
    amount: int | None
    account: str = ""
    party: str = ""
    problem: str | None = None
    movement: str = "payment"   # a customer's payment in; "payout": a B2C transfer out; "other": the rest


class StatementSource(Protocol):
    def fetch_statement(self, *, shortcode: str, start: datetime, end: datetime) -> list[StatementEntry]:
        """Every line of `shortcode`'s statement in [start, end] (naive UTC), all pages; raises
        escrow.ports.GatewayError when it cannot."""

    def statement_shortcodes(self) -> dict[str, tuple[str, ...]]:
        """{shortcode: the money-in channels ('stk', 'paybill') that arrive on it}."""


RUNNING = "running"
COMPLETE = "complete"
FAILED = "failed"


def start_run(session: Session, *, shortcode: str, window_start: datetime, window_end: datetime,
              source: str = "api") -> int:
    """Record that a pass over this window began; returns its id."""
    return insert_row(session, StatementRun, shortcode=shortcode, source=source, window_start=window_start,
                      window_end=window_end, status=RUNNING)


def finish_run(session: Session, run_id: int, *, status: str, note: str | None = None, **counts: int) -> None:
    """Close a run as complete or failed, with its counts (lines_seen, matched, new, missing, findings)."""
    session.execute(update(StatementRun).where(StatementRun.id == run_id)
                    .values(status=status, note=(note or None) and note[:300], finished_at=db_now(session),
                            **counts))


def covered_until(session: Session, shortcode: str | None = None) -> datetime | None:
    """The end (naive UTC) of the contiguous chain of completely reconciled windows, from the
    earliest one; None before any complete run. Without a shortcode, the least covered of the
    shortcodes that have runs (money in on any of them may be the one waited for)."""
    ends = {code: _chain_end(windows) for code, windows in _complete_windows(session, shortcode).items()}
    if not ends:
        return None
    return ends[shortcode] if shortcode else min(ends.values())


def covers(session: Session, start: datetime, end: datetime, shortcode: str | None = None) -> bool:
    """Whether [start, end] lies inside one contiguous stretch of completely reconciled windows
    (of every shortcode with runs, when none is named)."""
    windows_by_code = _complete_windows(session, shortcode)
    if not windows_by_code:
        return False
    return all(any(lo <= start and end <= hi for lo, hi in _merged(windows))
               for windows in windows_by_code.values())


def _complete_windows(session: Session, shortcode: str | None) -> dict[str, list[tuple[datetime, datetime]]]:
    query = select(StatementRun.shortcode, StatementRun.window_start, StatementRun.window_end).where(
        StatementRun.status == COMPLETE)
    if shortcode:
        query = query.where(StatementRun.shortcode == shortcode)
    windows: dict[str, list[tuple[datetime, datetime]]] = {}
    for code, lo, hi in session.execute(query.order_by(StatementRun.window_start)):
        windows.setdefault(code, []).append((lo, hi))
    return windows


def _merged(windows: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Windows sorted by start, merged where they touch or overlap."""
    merged: list[list[datetime]] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _chain_end(windows: list[tuple[datetime, datetime]]) -> datetime:
    return _merged(windows)[0][1]


def completeness_notes(session: Session) -> list[str]:
    """What `flask ledger check` says about completeness against M-Pesa's statement."""
    from escrow.findings import list_findings
    from escrow.statement.shortcode_cash import cash_notes

    notes = []
    for code, windows in _complete_windows(session, None).items():
        start, end = _merged(windows)[0]
        notes.append(f"statement {code}: reconciled without a gap from {start:%Y-%m-%d %H:%M} to "
                     f"{end:%Y-%m-%d %H:%M} UTC; last complete day (EAT): {_last_full_day(start, end) or 'none yet'}")
    last = session.scalar(select(StatementRun).order_by(StatementRun.id.desc()).limit(1))
    if last is None:
        return ["statement: never reconciled (flask reconcile statement)"] + cash_notes(session)
    notes.append(f"statement last run #{last.id} {last.shortcode} {last.window_start:%Y-%m-%d %H:%M} -> "
                 f"{last.window_end:%Y-%m-%d %H:%M} UTC: {last.status}, {last.lines_seen} lines, {last.matched} "
                 f"matched, {last.new} new, {last.missing} missing" + (f" ({last.note})" if last.note else ""))
    open_findings = sum(1 for f in list_findings(session) if str(f.get("kind", "")).startswith("statement-"))
    notes.append(f"statement findings open: {open_findings}")
    return notes + cash_notes(session)


def _last_full_day(start: datetime, end: datetime):
    """The latest EAT calendar day wholly inside [start, end] (naive UTC), or None."""
    eat = timedelta(hours=3)
    day = (end + eat).date()
    while True:
        day_start = datetime(day.year, day.month, day.day) - eat
        if day_start < start:
            return None
        if day_start + timedelta(days=1) <= end:
            return day
        day -= timedelta(days=1)
