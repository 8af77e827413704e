"""Re-sealing every sealed column under the newest DATA_KEY (`flask keys reseal`).

Safe while the service runs, and resumable: each batch is read in one short transaction, re-sealed
outside it, and written in another with a compare-and-set on the old value, so a value the service
changed meanwhile is left as the service wrote it (counted 'changed meanwhile'). A value already
under the newest key is skipped ('current'), so a rerun after an interruption only does what is
left. Every column named `*_sealed` in escrow.models is covered, found from the schema itself.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Column, select, update

from escrow.db import Database
from escrow.errors import ConfigError
from escrow.models import Base

BATCH = 200


@dataclass
class ResealReport:
    counts: dict = field(default_factory=dict)   # "table.column" -> Counter of outcomes

    def add(self, column: Column, outcome: str) -> None:
        self.counts.setdefault(f"{column.table.name}.{column.name}", Counter())[outcome] += 1

    def total(self, outcome: str) -> int:
        return sum(counter[outcome] for counter in self.counts.values())

    def lines(self) -> list[str]:
        return [f"{name}: " + ", ".join(f"{outcome} {n}" for outcome, n in sorted(counter.items()))
                for name, counter in sorted(self.counts.items())]


def sealed_columns() -> list[Column]:
    """Every `*_sealed` column of the schema, in a stable order."""
    return [column for table in Base.metadata.sorted_tables for column in table.columns
            if column.name.endswith("_sealed")]


def reseal_everything(db: Database, reseal: Callable[[str], str | None], *, batch: int = BATCH,
                      columns: list[Column] | None = None, on_batch: Callable[[str, int], None] | None = None
                      ) -> ResealReport:
    """Re-seal every value with `reseal` (Vault.reseal: new token, or None when already current)."""
    report = ResealReport()
    for column in columns or sealed_columns():
        after = None
        while True:
            rows = _next_batch(db, column, after, batch)
            if not rows:
                break
            _write_batch(db, column, [(key, value, _resealed(reseal, value)) for key, value in rows], report)
            after = rows[-1][0]
            if on_batch:
                on_batch(f"{column.table.name}.{column.name}", after)
    return report


def _key_of(column: Column) -> Column:
    keys = list(column.table.primary_key.columns)
    if len(keys) != 1:
        raise ConfigError(f"{column.table.name} has no single-column primary key to page by")
    return keys[0]


def _next_batch(db: Database, column: Column, after, batch: int) -> list[tuple]:
    key = _key_of(column)
    query = select(key, column).where(column.is_not(None)).order_by(key).limit(batch)
    if after is not None:
        query = query.where(key > after)
    with db.transaction() as session:
        return [tuple(row) for row in session.execute(query)]


def _resealed(reseal, value: str) -> tuple[str, str | None]:
    """('reseal', new token), ('current', None) or ('unreadable', None): no key opens it."""
    try:
        new = reseal(value)
    except ConfigError:
        return "unreadable", None
    return ("current", None) if new is None else ("reseal", new)


def _write_batch(db: Database, column: Column, rows: list[tuple], report: ResealReport) -> None:
    key = _key_of(column)
    with db.transaction() as session:
        for row_key, old, (outcome, new) in rows:
            if new is None:
                report.add(column, outcome)
                continue
            changed = session.execute(update(column.table).where(key == row_key, column == old)
                                      .values({column.name: new})).rowcount
            report.add(column, "resealed" if changed else "changed meanwhile")
