"""Reconciliation: make every payment and payout converge when callbacks are late, lost or doubted.

One pass (`Reconciler.run`, from `flask reconcile` and every RECONCILE_EVERY_SECONDS inside the
worker) does, in this order:

1. Held callbacks. An STK success held back by MPESA_CONFIRM_WITH_QUERY ('unconfirmed') is
   checked with an STK Push Query: confirmed -> applied as QRY-<attempt id> with its amount (the query
   vouches for the payment, not for the receipt a callback names: the statement brings M-Pesa's; one naming
   an amount our push did not ask for is forged: funded from the query instead, the callback
   'rejected' with a finding; escrow/confirmation.py); contradicted -> the callback is 'rejected', the query's failure is applied, a finding is
   recorded; still pending -> left for the next pass. Confirmed, but a paybill payment of the same
   amount known only from Transaction Status may quote its receipt for another order
   (`paybill_may_have_quoted_it`) -> left held, not queried again while its
   'stk-paid-held-for-statement' finding is open: step 3 asks about its attempt, the statement settles it.
2. Orphans. Stored callbacks whose id we did not know (the callback raced our own write,
   reliability.md I4) are parsed again and re-applied through the same use cases; after
   ORPHAN_RETRY_HOURS they become 'unmatched' and a finding is recorded.
3. STK attempts still 'sent' (or 'sending'/'unknown' with a checkout id, perhaps recorded late from
   a callback to the attempt's own URL) after STK_QUERY_AFTER_SECONDS are queried. "Being processed" stays pending. A failure goes through `record_payment_result`,
   the callbacks' use case. A success funds the order with a receipt we mint, `QRY-<attempt id>`:
   an STK query is an authenticated call we make to Safaricom (a callback can be forged, a query
   cannot), and the amount is the one our push asked for (the customer cannot change it), so
   `attempt.amount` is what was paid; unless a paybill payment may have quoted its receipt (above):
   then the attempt stays in doubt, asked about again, until the statement settles it. A callback
   arriving later is a duplicate that only records M-Pesa's receipt on the attempt. A query never downgrades a success, and never upgrades a
   recorded failure: both contradictions become findings for review (reliability.md S3).
4. Payouts 'sent' without a result for B2C_QUERY_AFTER_SECONDS become 'unknown'; unknown payouts
   get Transaction Status checks with back-off (B2C_QUERY_AFTER_SECONDS x 1, 2, 4, ...) up to
   B2C_STATUS_MAX_CHECKS, then a finding. They are never re-sent. A status answer of Completed
   settles one as paid; Failed, Cancelled or Reversed settles it as failed (result code: that word),
   and step 5 then decides; pending, not found or an error leaves it unknown.
5. Payouts that definitely failed (a failure result: M-Pesa says it did not pay) are retried
   under a new attempt with a new OriginatorConversationID, for B2C_RETRY_CODES, up to
   B2C_MAX_ATTEMPTS in all, after B2C_RETRY_AFTER_SECONDS x attempt; anything else is a finding.
   Payouts still 'queued' (surely never sent) whose outbox row gave up are made due again, with a
   finding (escrow/unsent.py).

Findings (escrow.findings) carry a unique dedupe key `finding:<kind>:<id>`, so each is recorded
once however many passes see it. An operator closes one with `resolve_finding` (status 'resolved',
the note kept); the key stays, so a resolved finding is never recorded again and its payout stays
out of the automatic retries.
No outbound call is made inside a database transaction.
"""
import dataclasses
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Mapping

from sqlalchemy import String, cast, literal, select, update
from sqlalchemy.orm import Session

from escrow import outbox
from escrow.context import Core
from escrow.db import Database, db_now, insert_once, utcnow
from escrow.checking import STK_HELD_FOR_STATEMENT, paid_but_held
from escrow.confirmation import attempt_with_forged_amount, reject_forged_amount
from escrow.errors import ConfigError
from escrow.funding import apply_money_in, unseen_paybill_payments
from escrow.findings import FINDING, record_finding
from escrow.inbox import mark_callback, raw_body
from escrow.models import InboundCallback, OutboxItem, PaymentAttempt, Payout
from escrow.numerals import is_ascii_digits
from escrow.settings import read_int, read_list
from escrow.payments import IN_DOUBT, QUERY_RECEIPT_PREFIX, PaymentResult, record_payment_result
from escrow.payouts import record_transfer_timeout
from escrow.ports import GatewayError, PaymentGateway, PaymentStatus
from escrow.settlement import record_payout_result, settle_with_earlier_payment
from escrow.unsent import revive_unsent_transfers

log = logging.getLogger(__name__)

UNCONFIRMED = "unconfirmed"   # an STK success held until an STK query confirms it
BATCH = 50
STK_QUERY_MAX_AGE = timedelta(days=2)       # older attempts are left to the operator
PAYOUT_RETRY_LOOKBACK = timedelta(days=7)
DEFAULT_B2C_RETRY_CODES = "1,17,26,1001,1019,1037"


@dataclass(frozen=True)
class ReconcileSettings:
    every_seconds: int = 30
    stk_query_after_seconds: int = 180
    b2c_status_max_checks: int = 6
    b2c_max_attempts: int = 3
    b2c_retry_after_seconds: int = 300
    b2c_retry_codes: frozenset = frozenset(DEFAULT_B2C_RETRY_CODES.split(","))
    orphan_retry_hours: int = 24

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "ReconcileSettings":
        values = {}
        for name in ("every_seconds", "stk_query_after_seconds", "b2c_status_max_checks", "b2c_max_attempts",
                     "b2c_retry_after_seconds", "orphan_retry_hours"):
            key = "RECONCILE_EVERY_SECONDS" if name == "every_seconds" else name.upper()
            values[name] = read_int(env, key, getattr(cls, name))
        values["b2c_retry_codes"] = frozenset(read_list(env, "B2C_RETRY_CODES", cls.b2c_retry_codes))
        return cls(**values)


@dataclass
class ReconcileReport:
    counts: dict = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def __str__(self) -> str:
        if not self.counts:
            return "nothing to reconcile"
        return ", ".join(f"{what}: {n}" for what, n in sorted(self.counts.items()))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# (parse(body) -> result or None, kind) by callback source; supplied by the M-Pesa adapter.
Parsers = Mapping[str, tuple[Callable, str]]
APPLY = {
    "payment": record_payment_result,
    "payout": record_payout_result,
    "payout_timeout": record_transfer_timeout,
}


class Reconciler:
    def __init__(self, db: Database, core: Core, gateway: PaymentGateway, settings: ReconcileSettings,
                 parsers: Parsers):
        self.db, self.core, self.gateway, self.settings, self.parsers = db, core, gateway, settings, parsers
        self.intake = None   # escrow.intake.CallbackIntake, set by the composition root
        self.statement = None  # escrow.statement.passes.StatementReconciler, attached by app.py
        self.balance = None    # escrow.statement.balances.BalanceChecker, attached by app.py

    def run(self) -> ReconcileReport:
        report = ReconcileReport()
        statement = tuple(extra.run_if_due for extra in (self.statement, self.balance) if extra is not None)
        for step in (self.process_stored_callbacks, self.confirm_held_callbacks, self.retry_orphans, self.query_stale_payments,
                     self.check_unsettled_payouts, self.retry_failed_payouts,
                     self.revive_unsent_payouts) + statement:
            try:
                step(report)
            except Exception:  # one broken step must not stop the others; the next pass tries again
                log.exception("reconcile step %s failed", step.__name__)
                report.add("step errors")
        if report.counts:
            log.info("reconcile: %s", report)
        return report

    # --- 0. callbacks stored but never processed (escrow/intake.py) ----------------------
    def process_stored_callbacks(self, report: ReconcileReport) -> None:
        if self.intake is not None:
            for outcome, n in self.intake.process_received().items():
                report.add(f"stored callbacks processed late ({outcome})", n)

    # --- 1. STK successes held for confirmation ------------------------------------------
    def confirm_held_callbacks(self, report: ReconcileReport) -> None:
        with self.db.transaction() as session:
            cutoff = _now(session) - timedelta(hours=self.settings.orphan_retry_hours)
            held = session.execute(select(InboundCallback.id, InboundCallback.body, InboundCallback.body_sealed,
                                          InboundCallback.received_at)
                                   .where(InboundCallback.source == "stk", InboundCallback.status == UNCONFIRMED)
                                   .order_by(InboundCallback.id).limit(BATCH)).all()
        for row in held:
            self._confirm_held(*row, cutoff, report)

    def confirm_held_callback(self, callback_id: int) -> str:
        """One held STK success, at once: the worker's step for the outbox item queued when it was held
        (escrow.confirmation.hold_stk_success), so funding does not wait for the next pass."""
        report = ReconcileReport()
        with self.db.transaction() as session:
            cutoff = _now(session) - timedelta(hours=self.settings.orphan_retry_hours)
            row = session.execute(select(InboundCallback.id, InboundCallback.body, InboundCallback.body_sealed,
                                         InboundCallback.received_at)
                                  .where(InboundCallback.id == callback_id, InboundCallback.source == "stk",
                                         InboundCallback.status == UNCONFIRMED)).first()
        if row is not None:
            self._confirm_held(*row, cutoff, report)
        return str(report)

    def _confirm_held(self, callback_id: int, body: str, body_sealed: str | None, received_at, cutoff,
                      report: ReconcileReport) -> None:
        parse = self.parsers["stk"][0]
        result = parse(json.loads(raw_body(self.core.vault, body, body_sealed)))
        with self.db.transaction() as session:
            known = _attempt_by_checkout(session, result.checkout_id) is not None
            if not known and received_at < cutoff:
                mark_callback(session, callback_id, "unmatched", "held success for no request we made")
                record_finding(session, f"orphan:{callback_id}", order_id=None,
                               summary=f"held STK success #{callback_id} never matched any request",
                               callback_id=callback_id)
        if not known:  # nothing of ours to query about (yet: it may have raced our own write)
            return
        with self.db.transaction() as session:
            attempt = _attempt_by_checkout(session, result.checkout_id)
            if attempt.status in IN_DOUBT and paid_but_held(session, attempt.id):
                report.add("held callbacks waiting for the statement")   # step 3 asks about its attempt
                return
        status = self._query(result.checkout_id, report)
        if status is None or status.pending:
            return
        with self.db.transaction() as session:
            forged = attempt_with_forged_amount(session, result.checkout_id, result.amount)
            if str(status.result_code) == "0" and forged is not None:   # escrow/confirmation.py
                outcome = apply_payment_query(session, self.core, forged.id, status)
                reject_forged_amount(session, callback_id, forged, result.amount, result.receipt, outcome)
                report.add(f"held callbacks with a forged amount ({outcome})")
                return
            if str(status.result_code) == "0":
                # The query confirms the checkout was paid, not the receipt the callback names (anyone with
                # the callback token can make one up): funded as QRY-<attempt>, like any success known from
                # a query, so M-Pesa's own receipt stays for the statement to match (escrow/statement/match).
                attempt = _attempt_by_checkout(session, result.checkout_id)
                if attempt.status in IN_DOUBT and paybill_may_have_quoted_it(session, attempt):
                    report.add("held callbacks waiting for the statement")   # left held: see below
                    return
                result = dataclasses.replace(result, receipt=f"{QUERY_RECEIPT_PREFIX}{attempt.id}")
                outcome = record_payment_result(session, self.core, result)
                mark_callback(session, callback_id, "applied" if outcome not in ("orphan", "duplicate")
                              else outcome, "confirmed by STK query")
                report.add(f"held callbacks confirmed ({outcome})")
                return
            mark_callback(session, callback_id, "rejected",
                          f"STK query says {status.result_code}: {status.description}")
            attempt = _attempt_by_checkout(session, result.checkout_id)
            record_finding(session, f"stk-callback-contradicted:{callback_id}",
                           order_id=attempt.order_id if attempt else None,
                           summary=f"a success callback for {result.checkout_id} (receipt {result.receipt}) "
                                   f"was contradicted by an STK query ({status.result_code}); not funded",
                           checkout_id=result.checkout_id, receipt=result.receipt)
            if attempt is not None and attempt.status != "succeeded":
                record_payment_result(session, self.core, PaymentResult(
                    result.checkout_id, False, str(status.result_code), status.description or ""))
            report.add("held callbacks rejected")

    # --- 2. orphans -----------------------------------------------------------------------
    def retry_orphans(self, report: ReconcileReport) -> None:
        with self.db.transaction() as session:
            now = _now(session)
            cutoff = now - timedelta(hours=self.settings.orphan_retry_hours)
            orphans = session.execute(select(InboundCallback.id, InboundCallback.source, InboundCallback.body,
                                             InboundCallback.body_sealed, InboundCallback.received_at)
                                      .where(InboundCallback.status == "orphan",
                                             InboundCallback.source.in_(list(self.parsers)))
                                      .order_by(InboundCallback.id).limit(BATCH * 2)).all()
        for callback_id, source, body, body_sealed, received_at in orphans:
            parse, kind = self.parsers[source]
            try:
                result = parse(json.loads(raw_body(self.core.vault, body, body_sealed)))
            except Exception as error:  # it parsed once; anything else now is worth a look
                self._mark_alone(callback_id, "malformed", f"re-parse failed: {error}")
                continue
            with self.db.transaction() as session:
                outcome = APPLY[kind](session, self.core, result) if result is not None else "inconclusive"
                if outcome != "orphan":
                    mark_callback(session, callback_id, "applied" if outcome != "duplicate" else outcome,
                                  f"matched later by reconciliation: {outcome}")
                    report.add(f"orphans matched ({outcome})")
                elif received_at < cutoff:
                    mark_callback(session, callback_id, "unmatched", "no matching request after the retry window")
                    record_finding(session, f"orphan:{callback_id}", order_id=None,
                                   summary=f"{source} callback #{callback_id} never matched any request",
                                   callback_id=callback_id)
                    report.add("orphans given up")

    # --- 3. STK attempts without a result -------------------------------------------------
    def query_stale_payments(self, report: ReconcileReport) -> None:
        with self.db.transaction() as session:
            now = _now(session)
            due = session.execute(select(PaymentAttempt.id, PaymentAttempt.checkout_request_id).where(
                PaymentAttempt.status.in_(IN_DOUBT), PaymentAttempt.checkout_request_id.is_not(None),
                PaymentAttempt.updated_at <= now - timedelta(seconds=self.settings.stk_query_after_seconds),
                PaymentAttempt.created_at >= now - STK_QUERY_MAX_AGE)
                .order_by(PaymentAttempt.updated_at, PaymentAttempt.id).limit(BATCH)).all()
        for attempt_id, checkout_id in due:
            status = self._query(checkout_id, report)
            if status is None or status.pending:
                # ask again after another STK_QUERY_AFTER_SECONDS; touching it also rotates the batch
                with self.db.transaction() as session:
                    session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt_id,
                                                                 PaymentAttempt.status.in_(IN_DOUBT))
                                    .values(updated_at=utcnow()))
                if status is not None:
                    report.add("payments still pending")
                continue
            with self.db.transaction() as session:
                outcome = apply_payment_query(session, self.core, attempt_id, status)
            report.add(f"payments queried ({outcome})")

    def _query(self, checkout_id: str, report: ReconcileReport) -> PaymentStatus | None:
        try:
            return self.gateway.query_payment(checkout_id)
        except GatewayError as error:
            log.warning("STK query for %s failed: %s", checkout_id, error)
            report.add("query errors")
            return None

    # --- 4. payouts without a result ------------------------------------------------------
    def check_unsettled_payouts(self, report: ReconcileReport) -> None:
        after = timedelta(seconds=self.core.settings.b2c_query_after_seconds)
        with self.db.transaction() as session:
            now = _now(session)
            silent = session.scalars(select(Payout.id).where(Payout.status == "sent", Payout.updated_at <= now - after)
                                     .limit(BATCH)).all()
            for payout_id in silent:  # no result after the wait: the outcome is unknown until queried
                if session.execute(update(Payout).where(Payout.id == payout_id, Payout.status == "sent")
                                   .values(status="unknown", result_desc="no result received",
                                           updated_at=utcnow())).rowcount:
                    report.add("payouts without a result")
            flagged = select(InboundCallback.id).where(
                InboundCallback.dedupe_key == literal(f"{FINDING}:payout-unknown:", String)
                + cast(Payout.id, String)).exists()
            unknown = session.scalars(select(Payout).where(Payout.status == "unknown", ~flagged)
                                      .order_by(Payout.id).limit(BATCH)).all()
            for payout in unknown:
                report.add(self._next_status_check(session, payout, now, after))

    def _next_status_check(self, session: Session, payout: Payout, now, after: timedelta) -> str:
        prefix = f"{outbox.PAYOUT_STATUS}:{payout.id}:"
        checks = session.execute(select(OutboxItem.status, OutboxItem.done_at, OutboxItem.created_at)
                                 .where(OutboxItem.dedupe_key.like(prefix + "%"))).all()
        if any(status == "pending" for status, _, _ in checks):
            return "payout status checks waiting"
        rounds = len(checks)
        if rounds >= self.settings.b2c_status_max_checks:
            if record_finding(session, f"payout-unknown:{payout.id}", order_id=payout.order_id,
                              summary=f"{payout.purpose} {payout.originator_conversation_id} still unknown after "
                                      f"{rounds} status checks; never re-sent",
                              originator_id=payout.originator_conversation_id):
                return "payouts flagged for review"
            return "payouts awaiting review"
        last = max([done or created for _, done, created in checks], default=payout.updated_at)
        if rounds and last + after * (2 ** (rounds - 1)) > now:
            return "payout status checks backing off"
        outbox.enqueue(session, outbox.PAYOUT_STATUS, payout.id, due_at=now, dedupe_key=f"{prefix}{rounds + 1}")
        return "payout status checks scheduled"

    # --- 5. payouts never sent whose outbox row gave up (escrow/unsent.py) ------------------
    def revive_unsent_payouts(self, report: ReconcileReport) -> None:
        with self.db.transaction() as session:
            revived = revive_unsent_transfers(session)
        if revived:
            report.add("unsent payouts retried", revived)

    # --- 5. payouts that definitely failed ------------------------------------------------
    def retry_failed_payouts(self, report: ReconcileReport) -> None:
        with self.db.transaction() as session:
            now = _now(session)
            flagged = select(InboundCallback.id).where(
                InboundCallback.dedupe_key == literal(f"{FINDING}:payout-failed:", String)
                + cast(Payout.id, String)).exists()
            failed = session.scalars(select(Payout).where(Payout.status == "failed", ~flagged,
                                                          Payout.updated_at >= now - PAYOUT_RETRY_LOOKBACK)
                                     .order_by(Payout.id).limit(BATCH * 2)).all()
            for payout in failed:
                outcome = self._retry_or_flag(session, payout, now)
                if outcome:
                    report.add(outcome)

    def _retry_or_flag(self, session: Session, payout: Payout, now) -> str | None:
        if settle_with_earlier_payment(session, self.core, payout):
            return "double payments settled by the earlier payment (its retry did not pay)"
        root, number = split_attempt(payout.originator_conversation_id)
        successor = attempt_originator(root, number + 1)
        if session.scalar(select(Payout.id).where(Payout.originator_conversation_id == successor)):
            return None  # already retried
        if payout.purpose in ("payout", "refund") and session.scalar(select(Payout.id).where(
                Payout.order_id == payout.order_id, Payout.purpose == payout.purpose, Payout.status != "failed")):
            return None  # another transfer for the same purpose is live or done
        float_short = self.balance is not None and self.balance.is_float_failure(payout)  # statement/balances.py
        if float_short and self.balance.keeps_waiting(session, payout):
            return "payouts waiting for the B2C float"
        retryable = payout.result_code in self.settings.b2c_retry_codes or float_short
        if not retryable or (number >= self.settings.b2c_max_attempts and not float_short):
            why = (f"failed {number} time(s), last with {payout.result_code}" if retryable
                   else f"failed with {payout.result_code or 'a rejected request'}: {payout.result_desc or ''}")
            if record_finding(session, f"payout-failed:{payout.id}", order_id=payout.order_id,
                              summary=f"{payout.purpose} of KES {payout.amount:,} {why}; not retried",
                              originator_id=payout.originator_conversation_id):
                return "failed payouts flagged for review"
            return None
        wait = timedelta(seconds=self.settings.b2c_retry_after_seconds * number)
        if payout.updated_at + wait > now:
            return "failed payouts backing off"
        if not insert_once(session, Payout, order_id=payout.order_id, purpose=payout.purpose, amount=payout.amount,
                           recipient_sealed=payout.recipient_sealed, status="queued",
                           originator_conversation_id=successor):
            return None
        new_id = session.scalar(select(Payout.id).where(Payout.originator_conversation_id == successor))
        outbox.enqueue(session, outbox.PAYOUT, new_id, due_at=now)
        log.info("payout %s failed with %s: retrying as %s", payout.originator_conversation_id,
                 payout.result_code, successor)
        return "failed payouts retried"

    def _mark_alone(self, callback_id: int, status: str, note: str) -> None:
        with self.db.transaction() as session:
            mark_callback(session, callback_id, status, note)


# --- pure helpers, shared with the callback adapters and tests ------------------------------
def apply_payment_query(session: Session, core: Core, attempt_id: int, status: PaymentStatus) -> str:
    """Apply a final STK query answer to one attempt; see the module docstring for the rules."""
    attempt = session.get(PaymentAttempt, attempt_id)
    code = str(status.result_code)
    if code == "0":
        if attempt.status == "succeeded":
            return "duplicate"
        if attempt.status == "failed":
            record_finding(session, f"stk-query-success-after-failure:{attempt.id}", order_id=attempt.order_id,
                           summary=f"attempt {attempt.checkout_request_id} was recorded failed "
                                   f"({attempt.result_code}) but an STK query says it succeeded; not funded",
                           checkout_id=attempt.checkout_request_id)
            return "review"
        if paybill_may_have_quoted_it(session, attempt):   # asked again after STK_QUERY_AFTER_SECONDS
            session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt.id,
                                                         PaymentAttempt.status.in_(IN_DOUBT))
                            .values(updated_at=utcnow()))
            return "held"
        receipt = f"{QUERY_RECEIPT_PREFIX}{attempt.id}"
        won = session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt.id,
                                                           PaymentAttempt.status.in_(IN_DOUBT))
                              .values(status="succeeded", result_code="0", receipt=receipt, updated_at=utcnow(),
                                      result_desc="paid: confirmed by STK query, no callback received")).rowcount
        if not won:
            return "duplicate"
        return apply_money_in(session, core, order_id=attempt.order_id, attempt_id=attempt.id, receipt=receipt,
                              amount=attempt.amount, channel="stk")
    if attempt.status == "succeeded":
        record_finding(session, f"stk-query-contradicts-success:{attempt.id}", order_id=attempt.order_id,
                       summary=f"attempt {attempt.checkout_request_id} succeeded (receipt {attempt.receipt}) but an "
                               f"STK query says {code}: {status.description}; left as succeeded",
                       checkout_id=attempt.checkout_request_id)
        return "review"
    return record_payment_result(session, core, PaymentResult(attempt.checkout_request_id, False, code,
                                                              status.description or ""))


def paybill_may_have_quoted_it(session: Session, attempt: PaymentAttempt) -> bool:
    """Whether an STK query's "paid" must not fund this attempt yet: a paybill payment of the same amount,
    recorded after this push on a confirmation's word and not yet matched by the statement, may be this
    very payment's receipt quoted for another order (Transaction Status confirms receipt and amount, not
    the account; escrow.funding). The attempt stays in doubt (its order waits, 'payment being checked'
    past pay-by, escrow/checking.py) and the statement settles it: its line for the real receipt funds the
    still-open push (escrow/statement/match.py), or names the other order's account (a
    'statement-account' finding). A finding names the case, once."""
    collisions = unseen_paybill_payments(session, attempt.amount, attempt.created_at)
    if not collisions:
        return False
    receipts = [payment.receipt for payment in collisions]
    record_finding(session, f"{STK_HELD_FOR_STATEMENT}:{attempt.id}", order_id=attempt.order_id,
                   summary=f"an STK query says push {attempt.checkout_request_id} (KES {attempt.amount:,}) was "
                           f"paid, but paybill payment(s) {', '.join(receipts)} of the same amount, confirmed only by "
                           "Transaction Status, may quote its receipt for another order: not funded until the "
                           "statement shows which account the receipt paid",
                   checkout_id=attempt.checkout_request_id, attempt_id=attempt.id, amount=attempt.amount,
                   paybill_receipts=receipts)
    log.info("STK query for attempt %s: paid, held for the statement (%s)", attempt.id, ", ".join(receipts))
    return True


def split_attempt(originator_id: str) -> tuple[str, int]:
    """'Z1234567P9f..' -> (root, 1); 'Z1234567P9f..-2' -> (root, 2)."""
    root, sep, number = originator_id.rpartition("-")
    if sep and is_ascii_digits(number, 3):
        return root, int(number)
    return originator_id, 1


def attempt_originator(root: str, number: int) -> str:
    return root if number == 1 else f"{root}-{number}"


def _attempt_by_checkout(session: Session, checkout_id: str) -> PaymentAttempt | None:
    return session.scalar(select(PaymentAttempt).where(PaymentAttempt.checkout_request_id == checkout_id))


def _now(session: Session):
    return db_now(session)
