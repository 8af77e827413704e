"""Findings: what reconciliation (or a use case) could not settle alone and an operator must look at.

A finding is a row of `inbound_callbacks` with source 'finding', status 'open' until an operator
resolves it, and a unique dedupe key, so the same problem is recorded once however often it is seen.
Its body is our own JSON (kind, order reference, summary, detail), never a provider's payload.
"""
import json
import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.db import db_now, insert_once
from escrow.errors import EscrowError
from escrow.models import InboundCallback, Order

log = logging.getLogger(__name__)

FINDING = "finding"
RESOLVED = "resolved"


class FindingNotFound(EscrowError):
    """No finding has that id."""


def record_finding(session: Session, key: str, *, order_id: int | None, summary: str, **detail) -> bool:
    """Record something an operator must look at, once per key. True when newly recorded."""
    reference = session.scalar(select(Order.reference).where(Order.id == order_id)) if order_id else None
    body = json.dumps({"kind": key.split(":")[0], "order": reference, "summary": summary, **detail}, default=str)
    recorded = insert_once(session, InboundCallback, source=FINDING, dedupe_key=f"{FINDING}:{key}"[:80],
                           remote_addr=None, body=body, status="open", note=summary[:300])
    if recorded:
        log.warning("finding for review: %s", summary)
    return recorded


def list_findings(session: Session, *, include_resolved: bool = False) -> list[dict]:
    """Findings, oldest first, as {id, at, status, kind, order, summary, ...}; open ones only
    unless `include_resolved` (then each resolved one carries its `resolution` and `resolved_at`)."""
    query = select(InboundCallback).where(InboundCallback.source == FINDING)
    if not include_resolved:
        query = query.where(InboundCallback.status == "open")
    return [{**json.loads(row.body), "id": row.id, "at": row.received_at, "status": row.status}
            for row in session.scalars(query.order_by(InboundCallback.id))]


def resolve_finding(session: Session, finding_id: int, note: str) -> dict:
    """Mark an open finding resolved with the operator's note; refuses an unknown or closed one."""
    note = (note or "").strip()
    if not note:
        raise EscrowError("a resolution note is required")
    row = session.scalar(select(InboundCallback).where(InboundCallback.id == finding_id,
                                                       InboundCallback.source == FINDING))
    if row is None:
        raise FindingNotFound(f"no finding #{finding_id}")
    body = _resolved(session, row, note)
    if body is None:
        status = session.scalar(select(InboundCallback.status).where(InboundCallback.id == finding_id))
        raise EscrowError(f"finding #{finding_id} is not open (it is {status})")
    log.info("finding #%s resolved by an operator", finding_id)
    return {**body, "id": finding_id, "status": RESOLVED}


def close_finding(session: Session, key: str, note: str) -> bool:
    """Resolve the open finding recorded under `key` when what it asked an operator to do is no longer
    needed (the service settled it itself); `note` says how. False if there is none open."""
    row = session.scalar(select(InboundCallback).where(InboundCallback.dedupe_key == f"{FINDING}:{key}"[:80],
                                                       InboundCallback.status == "open"))
    if row is None or _resolved(session, row, note) is None:
        return False
    log.info("finding #%s closed: %s", row.id, note)
    return True


def _resolved(session: Session, row: InboundCallback, note: str) -> dict | None:
    """Mark `row` resolved with `note` if it is still open: its new body, or None."""
    body = {**json.loads(row.body), "resolution": note, "resolved_at": db_now(session)}
    won = session.execute(update(InboundCallback).where(InboundCallback.id == row.id,
                                                        InboundCallback.status == "open")
                          .values(status=RESOLVED, note=note[:300], body=json.dumps(body, default=str))).rowcount
    return body if won else None
