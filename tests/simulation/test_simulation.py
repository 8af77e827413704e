"""A seeded whole-system simulation (VOPR-lite): orders driven through the real routes, use cases,
worker and reconciler while the World duplicates, delays, reorders, drops and forges callbacks,
kills the worker mid-call and takes the database and Redis away; then every invariant is checked.

CI: SIM_SEEDS seeds (default 3) x SIM_ORDERS orders (default 50). `bin/soak` runs more, e.g.
`bin/soak --orders 1000 --seeds 5`. SIM_SEED_BASE moves the seeds; a failure names its seed, and
`SIM_SEED_BASE=<seed> SIM_SEEDS=1 SIM_ORDERS=<n>` replays it exactly.
"""
import os
import shutil
import tempfile

import pytest

from tests.simulation.invariants import check_all
from tests.simulation.system import Simulation
from tests.simulation.world import Take, Transfer

pytestmark = pytest.mark.simulation

SEEDS = int(os.environ.get("SIM_SEEDS", 3))
SEED_BASE = int(os.environ.get("SIM_SEED_BASE", 1))
ORDERS = int(os.environ.get("SIM_ORDERS", 50))
TIMEOUT = 0 if os.environ.get("SIM_ORDERS") else 240


def in_memory(database_url: str, tmp_path) -> str:
    """A SQLite database on tmpfs when there is one: thousands of commits, each an fsync on disk."""
    if not database_url.startswith("sqlite:///") or not os.path.isdir("/dev/shm"):
        return database_url
    folder = tempfile.mkdtemp(dir="/dev/shm", prefix="zemi-sim-")
    shutil.copy(database_url[len("sqlite:///"):], f"{folder}/sim.db")
    return f"sqlite:///{folder}/sim.db"


def run(seed, database_url, redis_url, tmp_path, orders=ORDERS, **options):
    database_url = in_memory(database_url, tmp_path)
    simulation = Simulation(seed, orders=orders, database_url=database_url, redis_url=redis_url,
                            instance_path=str(tmp_path / "instance"), **options)
    try:
        report = simulation.run()
        violations = report.server_errors + simulation.ledger_check() + \
            check_all(simulation.db, simulation.world, report.counts)
    finally:
        simulation.close()
        if "/dev/shm/" in database_url:
            shutil.rmtree(os.path.dirname(database_url[len("sqlite:///"):]), ignore_errors=True)
    summary = "\n".join(f"  {what}: {n}" for what, n in sorted(report.counts.items()))
    print(f"\nseed {seed}: {report.orders} orders, {report.steps} steps\n{summary}")
    return report, violations


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("seed", [SEED_BASE + n for n in range(SEEDS)], ids=lambda seed: f"seed={seed}")
def test_a_seeded_world_of_faults_and_forgeries_loses_creates_and_doubles_nothing(seed, database_url, redis_url,
                                                                                  tmp_path):
    report, violations = run(seed, database_url, redis_url, tmp_path)
    assert report.orders >= ORDERS * 0.8, f"seed {seed}: only {report.orders} orders were created"
    assert report.counts.get("world: b2c paid", 0) > 0 and report.counts.get("world: stk payments taken", 0) > 0
    assert not violations, f"seed {seed} (replay: SIM_SEED_BASE={seed} SIM_SEEDS=1 SIM_ORDERS={ORDERS}):\n" + \
        "\n".join(violations[:40]) + (f"\n... and {len(violations) - 40} more" if len(violations) > 40 else "")


@pytest.mark.timeout(TIMEOUT)
def test_a_calm_world_converges_every_order(database_url, redis_url, tmp_path):
    """No faults and no forgeries: the harness itself must find nothing (a check that always fires
    would be as useless as one that never does)."""
    orders = max(10, ORDERS // 2)
    report, violations = run(SEED_BASE, database_url, redis_url, tmp_path, orders=orders, faults=False,
                             forgeries=False)
    assert not violations, "\n".join(violations[:40])
    assert report.orders >= orders * 0.8


def test_the_checks_see_money_lost_and_money_paid_that_the_books_do_not_know(database_url, redis_url, tmp_path):
    """The invariants are not vacuous: a payment M-Pesa took that never reached us, and a transfer
    M-Pesa made that we never asked for, are both reported."""
    database_url = in_memory(database_url, tmp_path)
    simulation = Simulation(SEED_BASE, orders=5, database_url=database_url, redis_url=redis_url,
                            instance_path=str(tmp_path / "instance"), faults=False, forgeries=False)
    try:
        simulation.run()
        reference = next(iter(simulation.orders))
        simulation.world.takes["SLOST00001"] = Take("SLOST00001", 777, reference, "paybill")
        simulation.world.transfers["ZNEVERASKED"] = Transfer("ZNEVERASKED", "AG_X", "254711000001", 555, "paid",
                                                             "BNEVER0001")
        violations = check_all(simulation.db, simulation.world)
    finally:
        simulation.close()
    assert any("lost: M-Pesa took KES 777" in v for v in violations), violations
    assert any("ZNEVERASKED" in v for v in violations), violations
