"""Answers about money out are believed only when they come where we asked (reliability.md X1).

A B2C transfer's ResultURL and QueueTimeOutURL, and those of each Transaction Status query about
it, end in `<transfer id>/<tag>` (escrow.payouts.transfer_reply: SECRET_KEY signs what the URL
answers, the transfer's id and its originator id). Holding the callback token is then not enough
to settle a transfer:

- A tag that does not verify for the transfer it names: the body is kept, marked 'rejected' (listed
  by `flask callbacks list --review`), no effect.
- A tagged answer whose ids (OriginatorConversationID / ConversationID) name another transfer: a
  'payout-answer-mismatch' finding, the body 'rejected', no effect.
- An answer at an untagged URL (a transfer sent before tags, or a body replayed from the journal,
  whose URL was not kept) is unverified: never applied. Its transfer, if still in flight (or held
  as failed while it claims success), becomes 'unknown' and a Transaction Status check is due at
  once through the outbox; the tagged answer to that check settles it.
"""
import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow import outbox
from escrow.context import Core
from escrow.db import Database, db_now, utcnow
from escrow.findings import record_finding
from escrow.inbox import mark_callback
from escrow.models import OutboxItem, Payout
from escrow.payouts import (DOUBLE_PAID, RESULT, STATUS, PayoutResult, find_transfer, time_out_transfer,
                            transfer_reply_is_ours)
from escrow.settlement import record_transfer_answer

log = logging.getLogger(__name__)

UNVERIFIED = "unverified"   # a stored answer kept but not believed: its transfer was asked about instead
NOT_APPLIED = ("orphan", "duplicate", "unknown", "inconclusive", "review")


class TransferAnswers:
    """The use cases of B2C answers, one transaction each, for the M-Pesa adapter's routes."""

    def __init__(self, db: Database, core: Core):
        self.db, self.core = db, core

    def reply_is_ours(self, kinds: tuple[str, ...], payout_id: int, tag: str) -> str | None:
        """Which of `kinds` the tag was made for, for this transfer; None: not ours."""
        originator_id = self.db.read_scalar(select(Payout.originator_conversation_id).where(Payout.id == payout_id))
        if originator_id is None:
            return None
        return next((kind for kind in kinds
                     if transfer_reply_is_ours(self.core, kind, payout_id, originator_id, tag)), None)

    def record_answer(self, payout_id: int, result: PayoutResult | None, callback_id: int) -> str:
        """A tagged result or status answer: applied to the transfer its URL names, if its ids agree."""
        with self.db.transaction() as session:
            payout = session.get(Payout, payout_id)
            if result is None:   # a status answer that settles nothing (pending, not found, an error)
                mark_callback(session, callback_id, "inconclusive", f"transfer #{payout_id}: not settled by this "
                                                                    "answer; the next check asks again")
                return "inconclusive"
            disagreement = _ids_disagree(payout, result)
            if disagreement:
                _reject_mismatch(session, payout, callback_id, disagreement)
                return "mismatch"
            outcome = record_transfer_answer(session, self.core, payout, result)
            mark_callback(session, callback_id, outcome if outcome in NOT_APPLIED else "applied",
                          f"transfer #{payout_id} (tagged answer): {outcome}")
            return outcome

    def record_timeout(self, kind: str, payout_id: int, callback_id: int) -> str:
        """A tagged queue timeout: of the transfer itself, it is now unknown and asked about; of a
        status query, the next check asks again."""
        with self.db.transaction() as session:
            outcome = time_out_transfer(session, self.core, payout_id) if kind == RESULT else "unknown"
            mark_callback(session, callback_id, outcome, f"transfer #{payout_id}: queue timeout "
                          + ("(the transfer)" if kind == RESULT else "(a status query): the next check asks again"))
            return outcome

    def hold_unverified(self, result: PayoutResult, callback_id: int) -> str:
        """An untagged result or status answer: never applied; its transfer is asked about."""
        with self.db.transaction() as session:
            payout = find_transfer(session, result)
            if payout is None:
                mark_callback(session, callback_id, "orphan", "unverified answer for no transfer of ours")
                return "orphan"
            said = "success" if result.succeeded else f"failure {result.result_code}"
            if payout.status in ("succeeded", DOUBLE_PAID) or (payout.status == "failed" and not result.succeeded):
                mark_callback(session, callback_id, "duplicate", f"unverified {said} for transfer #{payout.id}, "
                                                                 f"already {payout.status}")
                return "duplicate"
            asked = ask_about_transfer(session, payout, f"unverified {said} at an untagged URL")
            mark_callback(session, callback_id, UNVERIFIED, f"unverified {said} for transfer #{payout.id} (no "
                          f"reply tag): not applied; {asked}")
        log.info("unverified B2C answer #%s for transfer #%s: %s", callback_id, payout.id, asked)
        return UNVERIFIED

    def reject(self, callback_id: int, why: str) -> None:
        with self.db.transaction() as session:
            mark_callback(session, callback_id, "rejected", why)


def ask_about_transfer(session: Session, payout: Payout, why: str) -> str:
    """A transfer in flight becomes 'unknown' (its outcome now needs a status query), and a status
    check is due at once unless one is already waiting (escrow/reconcile.py counts and caps them)."""
    session.execute(update(Payout).where(Payout.id == payout.id, Payout.status == "sent")
                    .values(status="unknown", result_desc=why[:200], updated_at=utcnow()))
    prefix = f"{outbox.PAYOUT_STATUS}:{payout.id}:"
    checks = session.scalars(select(OutboxItem.status).where(OutboxItem.dedupe_key.like(prefix + "%"))).all()
    if "pending" in checks:
        return "a Transaction Status check is already due"
    outbox.enqueue(session, outbox.PAYOUT_STATUS, payout.id, due_at=db_now(session),
                   dedupe_key=f"{prefix}{len(checks) + 1}")
    return "Transaction Status check scheduled"


def _ids_disagree(payout: Payout, result: PayoutResult) -> str | None:
    """Why an answer at this transfer's own URL is not about it; None when its ids name it."""
    ours, conversation = payout.originator_conversation_id, payout.conversation_id
    if result.originator_id == ours:
        if result.conversation_id and conversation and result.conversation_id != conversation:
            return f"ConversationID {result.conversation_id[:64]} is not this transfer's ({conversation})"
        return None
    if result.conversation_id and conversation and result.conversation_id == conversation:
        return None
    return (f"it names OriginatorConversationID {str(result.originator_id)[:64]} / ConversationID "
            f"{str(result.conversation_id)[:64]}, not this transfer's {ours} / {conversation}")


def _reject_mismatch(session: Session, payout: Payout, callback_id: int, why: str) -> None:
    mark_callback(session, callback_id, "rejected", f"answer at transfer #{payout.id}'s URL: {why}"[:500])
    record_finding(session, f"payout-answer-mismatch:{callback_id}", order_id=payout.order_id,
                   summary=f"an answer came to the result URL of {payout.purpose} {payout.originator_conversation_id}"
                           f" but {why}; not applied (a misrouted or forged answer: the transfer's own status "
                           f"checks settle it)", callback_id=callback_id, originator_id=payout.originator_conversation_id)
