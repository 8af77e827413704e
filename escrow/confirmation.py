"""Money in is confirmed with M-Pesa before it can fund an order or be returned (reliability.md X1).

A callback is a claim that anyone holding the callback token can make; a query we send is not.
With MPESA_CONFIRM_WITH_QUERY on (always, against live Daraja: mpesa/security.py):

- An STK success is held ('unconfirmed') and confirmed by an STK Push Query in the reconcile pass
  (escrow/reconcile.py, step 1).
- A C2B confirmation is held ('unconfirmed', nothing recorded, no ledger effect) and a Transaction
  Status query on its TransID, naming our paybill as PartyA, is sent from the outbox. Its answer
  is itself a callback, so its URL carries a tag signed with SECRET_KEY for that one held payment
  (escrow.reversals.reply_tag): the callback token alone cannot forge it. 'Completed' for that
  TransID and amount applies the payment (escrow.paybill: fund, suspense, or send back within the
  caps). 'Pending' waits. Anything else contradicts the callback: it is marked 'contradicted' with
  a 'paybill-contradicted' finding and no ledger effect; the statement (issue 12) or an operator
  settles it. Without an answer it is asked again with back-off (B2C_QUERY_AFTER_SECONDS x 1, 2,
  4 ...), then a 'paybill-unconfirmed' finding, still held.
- 'Completed' does not say which account the TransID paid. While a payment funded on an STK query's
  word whose real receipt nothing has named yet could be the one quoted (same amount, its push made
  before the confirmation arrived, within the statement's match window: escrow.funding), the
  confirmation is not applied: it is held for the statement ('await_stmt', a
  'paybill-held-for-statement' finding), Transaction Status is not asked again, and the statement pass
  settles it (escrow/statement/held.py): its line for the TransID names the account.
"""
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow import outbox, reversals
from escrow.context import Core
from escrow.db import Database, db_now
from escrow.findings import record_finding
from escrow.funding import PUSH_SKEW, noted_on_an_attempt, unnamed_query_payments
from escrow.inbox import mark_callback, raw_body
from escrow.models import InboundCallback, Order, OutboxItem, PaymentAttempt, PaymentReceived
from escrow.money import format_kes
from escrow.paybill import PaybillPayment, record_paybill_payment
from escrow.ports import MoneyInGateway

log = logging.getLogger(__name__)

C2B_STATUS = "c2b_status"          # outbox kind, and the kind named in the reply tag
STK_CONFIRM = "stk_confirm"        # outbox kind: a held STK success queried at once (escrow/reconcile.py, step 1)
HELD, CONTRADICTED = "unconfirmed", "contradicted"
AWAIT_STATEMENT = "await_stmt"     # confirmed by Transaction Status, but it may quote another order's payment
HELD_FOR_STATEMENT = "paybill-held-for-statement"
MAX_CHECKS = 6


@dataclass(frozen=True)
class PaybillVerdict:
    """What a Transaction Status query says about a paybill payment, in the core's words."""
    result_code: str
    description: str
    trans_id: str | None = None
    status: str | None = None      # TransactionStatus: Completed, Pending, Failed, ...
    amount: int | None = None

    @property
    def pending(self) -> bool:
        return self.result_code == "0" and (self.status or "").strip().lower() == "pending"

    def confirms(self, payment: PaybillPayment) -> bool:
        return (self.result_code == "0" and (self.status or "").strip().lower() == "completed"
                and self.trans_id == payment.trans_id and self.amount == payment.amount)


class MoneyInChecks:
    """The use cases of held money in and of reversals, one transaction each, for the adapters and
    the worker. `read_payment` turns a stored C2B body back into a PaybillPayment (the adapter's
    parser: the core reads no Daraja payloads)."""

    def __init__(self, db: Database, core: Core, gateway: MoneyInGateway,
                 read_payment: Callable[[str], PaybillPayment], our_shortcode: str | None = None):
        self.db, self.core, self.gateway, self.read_payment = db, core, gateway, read_payment
        self.our_shortcode = our_shortcode

    def worker_handlers(self) -> dict:
        """Outbox kind -> handler(subject_id), for escrow.worker.Worker."""
        return {C2B_STATUS: self.ask_about_paybill_payment,
                reversals.REVERSAL: lambda rid: reversals.send_reversal(self.db, self.core, self.gateway, rid),
                reversals.REVERSAL_STATUS: lambda rid: reversals.check_reversal(self.db, self.core, self.gateway,
                                                                                 rid)}

    def reply_is_ours(self, kind: str, subject_id: int, tag: str) -> bool:
        return reversals.reply_is_ours(self.core, kind, subject_id, tag)

    # --- C2B: hold, ask, apply the answer -----------------------------------------------------
    def hold_paybill_payment(self, payment: PaybillPayment, callback_id: int) -> str:
        """'held' (asked about from the outbox) or 'duplicate' (this TransID is already recorded)."""
        with self.db.transaction() as session:
            if session.scalar(select(PaymentReceived.id).where(PaymentReceived.receipt == payment.trans_id)):
                mark_callback(session, callback_id, "duplicate", "TransID already recorded")
                return "duplicate"
            mark_callback(session, callback_id, HELD, "held for a Transaction Status check before any effect")
            _schedule_check(session, self.core, callback_id, 1)
        log.info("paybill confirmation #%s (%s): held for a Transaction Status check", callback_id,
                 payment.trans_id)
        return "held"

    def ask_about_paybill_payment(self, callback_id: int) -> str:
        """Worker step: the next check is scheduled first, then Transaction Status is asked."""
        with self.db.transaction() as session:
            payment = self._held(session, callback_id)
            if payment is None:
                return "settled"
            rounds = _rounds(session, callback_id)
            if rounds > MAX_CHECKS:
                record_finding(session, f"paybill-unconfirmed:{callback_id}", order_id=_order_id(session, payment),
                               summary=f"paybill confirmation {payment.trans_id} of {format_kes(payment.amount)} "
                                       f"for account {payment.account[:20]!r}: no Transaction Status answer after "
                                       f"{MAX_CHECKS} checks; held, not funded (the statement settles it)",
                               trans_id=payment.trans_id, callback_id=callback_id)
                return "flagged"
            _schedule_check(session, self.core, callback_id, rounds + 1)
        self.gateway.query_paybill_payment(trans_id=payment.trans_id,
                                           reply_to=reversals.reply_tag(self.core, C2B_STATUS, callback_id))
        return "queried"

    def record_paybill_verdict(self, held_id: int, verdict: PaybillVerdict, callback_id: int | None = None) -> str:
        """Apply a Transaction Status answer to the held confirmation it was asked for."""
        with self.db.transaction() as session:
            outcome = self._apply_verdict(session, held_id, verdict)
            if callback_id is not None:
                mark_callback(session, callback_id, "applied" if outcome not in ("duplicate", "pending")
                              else outcome, f"held paybill #{held_id}: {outcome}")
        log.info("paybill status answer for #%s: %s", held_id, outcome)
        return outcome

    def _apply_verdict(self, session: Session, held_id: int, verdict: PaybillVerdict) -> str:
        payment = self._held(session, held_id, lock=True)   # two answers at once: one applies, one waits
        if payment is None:
            return "duplicate"
        if verdict.pending:
            return "pending"
        if verdict.confirms(payment):
            if _may_quote_a_query_funded_payment(session, held_id, payment):
                return "held for the statement"
            outcome = record_paybill_payment(session, self.core, payment, self.our_shortcode)
            mark_callback(session, held_id, "duplicate" if outcome == "duplicate" else "applied",
                          f"confirmed by Transaction Status: {outcome}")
            return outcome
        said = f"{verdict.result_code} {verdict.status or ''} {verdict.description}".strip()
        mark_callback(session, held_id, CONTRADICTED, f"Transaction Status says: {said}")
        record_finding(session, f"paybill-contradicted:{held_id}", order_id=_order_id(session, payment),
                       summary=f"paybill confirmation {payment.trans_id} of {format_kes(payment.amount)} for "
                               f"account {payment.account[:20]!r} is contradicted by M-Pesa ({said[:80]}; "
                               f"status says {verdict.trans_id} KES {verdict.amount}); held, not funded, no ledger "
                               "effect", trans_id=payment.trans_id, callback_id=held_id)
        return CONTRADICTED

    def _held(self, session: Session, callback_id: int, lock: bool = False) -> PaybillPayment | None:
        query = select(InboundCallback).where(InboundCallback.id == callback_id)
        row = session.scalar(query.with_for_update() if lock else query)
        if row is None or row.source != "c2b_confirmation" or row.status != HELD:
            return None
        return self.read_payment(raw_body(self.core.vault, row.body, row.body_sealed))

    # --- reversals ----------------------------------------------------------------------------
    def record_reversal_result(self, reversal_id: int, result: "reversals.ReversalResult",
                               callback_id: int | None = None) -> str:
        with self.db.transaction() as session:
            outcome = reversals.record_reversal_result(session, self.core, reversal_id, result)
            if callback_id is not None:
                mark_callback(session, callback_id, "applied" if outcome in ("succeeded", "failed") else outcome,
                              f"reversal #{reversal_id}: {outcome}")
        return outcome


def _may_quote_a_query_funded_payment(session: Session, held_id: int, payment: PaybillPayment) -> bool:
    """Hold a confirmed paybill payment for the statement when it may be the unnamed real receipt of a
    payment we funded on an STK query's word (escrow.funding): True when held."""
    if noted_on_an_attempt(session, payment.trans_id) or session.scalar(
            select(PaymentReceived.id).where(PaymentReceived.receipt == payment.trans_id)):
        return False   # a duplicate either way: record_paybill_payment says so
    received_at = session.scalar(select(InboundCallback.received_at).where(InboundCallback.id == held_id))
    candidates = unnamed_query_payments(session, payment.amount, received_at)
    if not candidates:
        return False
    attempts = [session.get(PaymentAttempt, candidate.attempt_id) for candidate in candidates]
    mark_callback(session, held_id, AWAIT_STATEMENT, "confirmed by Transaction Status, but it may quote the receipt "
                                                     "of a payment funded by STK query: held for the statement")
    record_finding(session, f"{HELD_FOR_STATEMENT}:{held_id}", order_id=_order_id(session, payment),
                   summary=f"paybill confirmation {payment.trans_id} of {format_kes(payment.amount)} for account "
                           f"{payment.account[:20]!r} is confirmed by Transaction Status, which does not say which "
                           f"account it paid; it may be M-Pesa's receipt of "
                           f"{', '.join(c.receipt for c in candidates)} (same amount, funded by STK query, real "
                           "receipt not yet named): held, not funded, until the statement shows it",
                   trans_id=payment.trans_id, amount=payment.amount, account=payment.account[:20],
                   callback_id=held_id, query_receipts=[c.receipt for c in candidates],
                   since=min(a.created_at for a in attempts) - PUSH_SKEW, until=received_at)
    return True


# --- STK: held successes --------------------------------------------------------------------------
def hold_stk_success(session: Session, callback_id: int) -> None:
    """Hold an STK success for an STK Push Query, and have the worker ask at once (the reconcile pass
    asks again while M-Pesa says it is still being processed)."""
    mark_callback(session, callback_id, HELD, "held for an STK query before funding")
    outbox.enqueue(session, STK_CONFIRM, callback_id, due_at=db_now(session))


def attempt_with_forged_amount(session: Session, checkout_id: str, amount: int | None) -> PaymentAttempt | None:
    """The attempt, when a held success names an amount other than the one our push asked for: the
    customer cannot change an STK amount, so that callback is forged (its receipt too). The caller
    funds from the query instead (our amount, a QRY- receipt) and rejects the callback."""
    attempt = session.scalar(select(PaymentAttempt).where(PaymentAttempt.checkout_request_id == checkout_id))
    return attempt if attempt is not None and amount != attempt.amount else None


def reject_forged_amount(session: Session, callback_id: int, attempt: PaymentAttempt, amount: int | None,
                         receipt: str | None, outcome: str) -> None:
    mark_callback(session, callback_id, "rejected", f"says KES {amount}, our push asked {attempt.amount}: "
                                                    f"funded from the STK query ({outcome})")
    record_finding(session, f"stk-callback-amount-forged:{callback_id}", order_id=attempt.order_id,
                   summary=f"a success callback for {attempt.checkout_request_id} said KES {amount} (receipt "
                           f"{receipt}) but our push asked KES {attempt.amount:,}; the STK query confirmed the "
                           f"payment, so it was funded for KES {attempt.amount:,} ({outcome}) and the callback "
                           "ignored", checkout_id=attempt.checkout_request_id, receipt=receipt)


def _schedule_check(session: Session, core: Core, callback_id: int, round_: int) -> None:
    delay = timedelta(0) if round_ == 1 else timedelta(seconds=core.settings.b2c_query_after_seconds
                                                        * 2 ** (round_ - 2))
    outbox.enqueue(session, C2B_STATUS, callback_id, due_at=db_now(session) + delay,
                   dedupe_key=f"{C2B_STATUS}:{callback_id}:{round_}")


def _rounds(session: Session, callback_id: int) -> int:
    return session.scalar(select(func.count()).select_from(OutboxItem).where(
        OutboxItem.dedupe_key.like(f"{C2B_STATUS}:{callback_id}:%")))


def _order_id(session: Session, payment: PaybillPayment) -> int | None:
    return session.scalar(select(Order.id).where(Order.reference == (payment.account or "").strip().upper()))

