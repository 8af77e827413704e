"""New numbers' first dials, recorded off the hop (escrow/greeting.py): the dial hop queues the number
with its own Redis commit (OpenHop.queue_first_dial) and the worker, after each of its passes, writes
the profiles of the oldest waiting dials through the core and only then takes them off the queue (a
pass that fails leaves them for the next; writing one twice writes nothing)."""
import logging
from datetime import timedelta

from escrow.greeting import QueuedDial

log = logging.getLogger("ussd")
BATCH = 200


def record_waiting(store, service, batch: int = BATCH) -> int:
    """Record up to `batch` waiting dials, oldest first; how many profiles were written."""
    waiting = store.first_dials(batch)
    if not waiting:
        return 0
    now = store.clock()
    written = service.record_first_dials([QueuedDial(key, timedelta(seconds=max(0.0, now - at)))
                                          for key, at in waiting])
    store.drop_first_dials([key for key, _ in waiting])
    return written


def record_each_pass(worker, store, service):
    """Wrap the worker's pass: the waiting first dials recorded after it (its count is the outbox's)."""
    run_once = worker.run_once

    def run_once_and_record() -> int:
        handled = run_once()
        try:
            record_waiting(store, service)
        except Exception as error:  # noqa: BLE001 -- the outbox must keep moving; the dials wait in Redis
            log.warning("first dials not recorded this pass: %s", type(error).__name__)
        return handled

    worker.run_once = run_once_and_record
    return worker
