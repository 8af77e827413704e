"""Shared helpers of the adversarial suite: a core world on the test database, races on real
connections, and the books' checks every attack ends with."""
import dataclasses
import threading

import pytest

from escrow.reports import ledger_findings
from escrow.service import EscrowService
from escrow.worker import Worker
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender


@pytest.fixture
def world(database, core):
    """(service, worker, gateway, sms) with limits raised: attacks make many orders for one number."""
    settings = dataclasses.replace(core.settings, orders_per_hour=1_000, stk_pushes_per_hour=1_000)
    core = dataclasses.replace(core, settings=settings)
    gateway, sms = FakePaymentGateway(), FakeSmsSender()
    return EscrowService(database, core), Worker(database, core, gateway, sms), gateway, sms


def race(actions):
    """Run the actions at the same moment on their own threads (each its own connection); return
    what each returned or raised."""
    barrier, results = threading.Barrier(len(actions)), [None] * len(actions)

    def run(index, action):
        barrier.wait()
        try:
            results[index] = action()
        except Exception as error:  # noqa: BLE001 -- a refusal is a result
            results[index] = error
    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def needs_postgres(database):
    if database.dialect != "postgresql":
        pytest.skip("row-level races need PostgreSQL (SQLite has one writer at a time)")


def books_ok(database):
    """`flask ledger check`'s own tests: balanced, nothing it reports as a violation, and complete
    (escrow/anomalies.py: no implausible amount, no double payment without a finding, no suspense
    nobody explains)."""
    from escrow.anomalies import ledger_anomalies
    with database.transaction() as session:
        violations, _ = ledger_findings(session)
        failures, warnings = ledger_anomalies(session)
    assert violations == [] and failures == []
    assert [w for w in warnings if "suspense" in w] == []
