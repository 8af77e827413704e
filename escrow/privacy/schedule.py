"""The worker runs the retention purge every RETENTION_EVERY_SECONDS and carries out pending
erasures every `erasure_every_seconds`, after its own pass (so an answer queued by an ERASE text
is sent first). Neither may ever stop the worker."""
import logging
import time

from escrow.privacy.erasure import Forget, run_pending
from escrow.privacy.retention import purge
from escrow.privacy.settings import RetentionSettings

log = logging.getLogger(__name__)
MAX_BATCHES_PER_PASS = 20   # per step: a first run over years of data is spread over several passes


def keep_each_pass(worker, settings: RetentionSettings, forget: Forget | None):
    run_once, last = worker.run_once, {"purge": None, "erasures": None}

    def due(name: str, every: int) -> bool:
        now = time.monotonic()
        if last[name] is not None and now - last[name] < every:
            return False
        last[name] = now
        return True

    def run_once_and_keep() -> int:
        handled = run_once()
        try:
            if due("erasures", settings.erasure_every_seconds):
                handled += run_pending(worker.db, worker.core, forget, reply_wait_seconds=settings.reply_wait_seconds)
            if due("purge", settings.every_seconds):
                counts = purge(worker.db, worker.core, settings, max_batches=MAX_BATCHES_PER_PASS)
                if sum(counts.values()):
                    log.info("retention purge: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        except Exception:  # noqa: BLE001 -- the outbox must keep moving; the next pass tries again
            log.exception("personal data pass failed")
        return handled

    worker.run_once = run_once_and_keep
    return worker
