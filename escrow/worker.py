"""The outbox relay: lease what is due, hand each item to its handler, record the outcome."""
import logging
import threading
import time

from escrow import outbox
from escrow.context import Core
from escrow.db import Database
from escrow.messaging import send_sms
from escrow.payments import send_stk_push
from escrow.payouts import check_transfer_status, send_transfer
from escrow.ports import PaymentGateway, SmsSender
from escrow.reminders import send_reminder
from escrow.timers import run_timers

log = logging.getLogger(__name__)
CALLBACK_POLL_SECONDS = 0.1


class Worker:
    def __init__(self, db: Database, core: Core, gateway: PaymentGateway, sender: SmsSender):
        self.db = db
        self.handlers = {
            outbox.STK_PUSH: lambda item_id: send_stk_push(db, core, gateway, item_id),
            outbox.PAYOUT: lambda item_id: send_transfer(db, core, gateway, item_id),
            outbox.PAYOUT_STATUS: lambda item_id: check_transfer_status(db, core, gateway, item_id),
            outbox.SMS: lambda item_id: send_sms(db, core, sender, item_id),
            outbox.REMINDER: lambda item_id: send_reminder(db, core, item_id),
        }
        self.core = core
        self.reconciler = None
        self.reconcile_every = 30.0
        self._last_reconcile: float | None = None
        self.intake = None

    def attach_reconciler(self, reconciler, every_seconds: float) -> "Worker":
        """Run `reconciler.run()` at most every `every_seconds` inside run_once (escrow/reconcile.py)."""
        self.reconciler, self.reconcile_every = reconciler, float(every_seconds)
        return self

    def attach_intake(self, intake) -> "Worker":
        """Replay `intake`'s callback journal (escrow/intake.py) at the start of every pass."""
        self.intake = intake
        return self

    def _replay_journal(self) -> int:
        if self.intake is None or self.intake.journal is None:
            return 0
        return self.intake.replay_journal()

    def _apply_callbacks(self) -> int:
        """Callbacks answered once stored (CALLBACK_APPLY=worker on the web servers, whatever this
        process's own setting): claimed and applied, so their code SMS is queued in time for this
        pass's outbox."""
        if self.intake is None:
            return 0
        return self.intake.apply_waiting()

    def _maybe_reconcile(self) -> int:
        if self.reconciler is None:
            return 0
        now = time.monotonic()
        if self._last_reconcile is not None and now - self._last_reconcile < self.reconcile_every:
            return 0
        self._last_reconcile = now
        try:
            return self.reconciler.run().total
        except Exception:  # reconciliation must never stop the outbox
            log.exception("reconcile pass failed")
            return 0

    def run_once(self) -> int:
        """Carry out everything due now; returns how many items were handled."""
        handled = self._replay_journal()   # callbacks kept while the database was away come first
        handled += self._apply_callbacks()
        handled += run_timers(self.db, self.core)
        handled += self._maybe_reconcile()
        while True:
            with self.db.transaction() as session:
                items = [(item.id, item.kind, item.subject_id, item.attempts) for item in outbox.lease_due(session)]
            if not items:
                return handled
            for item in items:
                self._handle(*item)
            handled += len(items)

    def run_forever(self, poll_seconds: float = 0.5, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                if not self.run_once():
                    self._idle(poll_seconds, stop)
            except Exception:  # the loop must outlive a database blip; the item's lease expires
                log.exception("worker pass failed")
                time.sleep(poll_seconds)

    def _idle(self, poll_seconds: float, stop: threading.Event) -> None:
        """Wait for the next pass; meanwhile look for fresh stored callbacks every
        CALLBACK_POLL_SECONDS (one indexed SELECT), and start the pass at once when one came: money
        in is applied within about that long, not a whole poll."""
        if self.intake is None or not self.intake.applies_waiting():
            stop.wait(poll_seconds)
            return
        deadline = time.monotonic() + poll_seconds
        while not stop.wait(min(CALLBACK_POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
            if self._apply_callbacks() or time.monotonic() >= deadline:
                return

    def _handle(self, item_id: int, kind: str, subject_id: int, attempts: int) -> None:
        try:
            outcome = self.handlers[kind](subject_id)
        except Exception as error:  # retried with back-off, bounded by outbox.MAX_ATTEMPTS
            log.warning("outbox %s %s #%s failed (attempt %s): %s", kind, item_id, subject_id, attempts,
                        type(error).__name__)
            with self.db.transaction() as session:
                outbox.retry_later(session, item_id, attempts, f"{type(error).__name__}: {error}")
            return
        with self.db.transaction() as session:
            outbox.mark_done(session, item_id)
        log.info("outbox %s #%s -> %s", kind, subject_id, outcome)
