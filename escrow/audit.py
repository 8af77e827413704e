"""The operators' audit trail: who did what, when, from where, to which order, before and after.

Rows are only ever added (the table's triggers refuse UPDATE and DELETE, migration 0009). An entry is
written in the same transaction as the action it records, so an action without its entry cannot commit.
"""
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.db import insert_row
from escrow.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """The operator behind an action, as the audit trail names them."""
    name: str
    role: str
    remote_addr: str | None = None


def record(session: Session, actor: Actor, action: str, *, order_reference: str | None = None,
           target: str | None = None, reason: str | None = None, before=None, after=None) -> int:
    """Append one entry; `before` and `after` are stored as JSON (never a phone number in clear)."""
    return insert_row(session, AuditEntry, operator=actor.name, role=actor.role,
                      remote_addr=(actor.remote_addr or "")[:64] or None, action=action[:32],
                      order_reference=order_reference, target=(target or None) and str(target)[:64],
                      reason=(reason or None) and reason[:300], before=_json(before), after=_json(after))


def _json(value) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def entries(session: Session, *, order_reference: str | None = None, operator: str | None = None,
            before_id: int | None = None, limit: int = 50) -> list[AuditEntry]:
    """Newest first; `before_id` pages back (keyset)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if order_reference:
        query = query.where(AuditEntry.order_reference == order_reference)
    if operator:
        query = query.where(AuditEntry.operator == operator)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))
