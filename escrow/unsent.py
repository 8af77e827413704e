"""Transfers that surely never left, whose outbox row gave up (issue 11, finding 2).

A payout is 'queued' only while nothing of it has been sent: a send that failed before any byte left
(Daraja unreachable, no access token) puts it back to 'queued' and the outbox retries it with back-off,
up to outbox.MAX_ATTEMPTS. An outage longer than that back-off would leave the payout 'queued' forever
with its outbox row 'failed'. Sending it again is safe (nothing was sent), so the reconcile pass makes
the row due again, and records a finding once so an operator knows payouts were held up.
"""
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow import outbox
from escrow.db import db_now
from escrow.findings import record_finding
from escrow.models import OutboxItem, Payout

BATCH = 50


def revive_unsent_transfers(session: Session) -> int:
    """Make the given-up outbox rows of still-'queued' payouts due again; returns how many."""
    stuck = session.execute(
        select(OutboxItem.id, OutboxItem.last_error, Payout.id, Payout.order_id, Payout.amount, Payout.purpose)
        .join(Payout, Payout.id == OutboxItem.subject_id)
        .where(OutboxItem.kind == outbox.PAYOUT, OutboxItem.status == "failed", Payout.status == "queued")
        .order_by(OutboxItem.id).limit(BATCH)).all()
    for item_id, last_error, payout_id, order_id, amount, purpose in stuck:
        session.execute(update(OutboxItem).where(OutboxItem.id == item_id, OutboxItem.status == "failed")
                        .values(status="pending", attempts=0, due_at=db_now(session), leased_until=None))
        record_finding(session, f"payout-held-up:{payout_id}", order_id=order_id,
                       summary=f"{purpose} of KES {amount:,} could not be sent for a while (never sent: "
                               f"{(last_error or 'no error recorded')[:120]}); it is being retried",
                       payout_id=payout_id)
    return len(stuck)
