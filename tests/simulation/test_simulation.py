"""A seeded whole-system simulation (VOPR-lite): orders driven through the real routes, use cases,
worker and reconciler while the World duplicates, delays, reorders, drops and forges callbacks,
kills the worker mid-call and takes the database and Redis away; then every invariant is checked.

CI: SIM_SEEDS seeds (default 3) x SIM_ORDERS orders (default 70). `bin/soak` runs more, e.g.
`bin/soak --orders 1000 --seeds 5`. SIM_SEED_BASE moves the seeds; a failure names its seed, and
`SIM_SEED_BASE=<seed> SIM_SEEDS=1 SIM_ORDERS=<n>` replays it exactly.
"""
import os

import pytest

from tests.simulation.invariants import check_all
from tests.simulation.system import Simulation

SEEDS = int(os.environ.get("SIM_SEEDS", 3))
SEED_BASE = int(os.environ.get("SIM_SEED_BASE", 1))
ORDERS = int(os.environ.get("SIM_ORDERS", 70))
TIMEOUT = 0 if os.environ.get("SIM_ORDERS") else 240


def run(seed, database_url, redis_url, tmp_path, **options):
    simulation = Simulation(seed, orders=ORDERS, database_url=database_url, redis_url=redis_url,
                            instance_path=str(tmp_path / "instance"), **options)
    try:
        report = simulation.run()
        violations = report.server_errors + check_all(simulation.db, simulation.world)
    finally:
        simulation.close()
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
    report, violations = run(SEED_BASE, database_url, redis_url, tmp_path, faults=False, forgeries=False)
    assert not violations, "\n".join(violations[:40])
    terminal = sum(n for what, n in report.counts.items() if what.startswith("orders created"))
    assert terminal >= ORDERS * 0.8
