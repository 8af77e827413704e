"""Fault-injection fixtures: one PostgreSQL cluster, one Redis server and one running service
(gunicorn, the Daraja simulator, proxies) per session; a fresh worker and empty tables per test.

Without the servers' binaries (or, as root, without a `postgres` user) the tests are skipped with
the reason; with CI_REQUIRE_FAULTS=1 (CI) that skip is a failure instead."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.faults.servers import PostgresServer, RedisServer, Unavailable


def _cannot_run(reason: str):
    if os.environ.get("CI_REQUIRE_FAULTS") == "1":
        pytest.fail(f"fault-injection tests cannot run, and CI_REQUIRE_FAULTS=1 requires them: {reason}",
                    pytrace=False)
    pytest.skip(f"fault-injection tests need PostgreSQL and Redis servers of their own: {reason}")


@pytest.fixture(scope="session")
def fault_servers():
    base = Path(tempfile.mkdtemp(prefix="zemi-faults-"))
    problem, postgres, redis = None, None, None
    try:
        postgres = PostgresServer(base)
        redis = RedisServer(base)
        postgres.init()
        postgres.start()
        postgres.create_database("zemi_faults")
        redis.start()
    except Unavailable as error:
        problem = str(error)
    except Exception as error:  # noqa: BLE001 - any start failure is reported the same way
        problem = f"{type(error).__name__}: {getattr(error, 'stderr', '') or error}"
    if problem:
        if postgres is not None and postgres.data.exists():
            postgres.stop()
        shutil.rmtree(base, ignore_errors=True)
        _cannot_run(problem)
    yield base, postgres, redis
    redis.kill9()
    postgres.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def running_stack(fault_servers):
    from tests.faults.stack import Stack

    base, postgres, redis = fault_servers
    stack = Stack(base, postgres, redis)
    try:
        stack.start()
    except Exception:
        print(stack.diagnostics())
        stack.stop()
        raise
    yield stack
    stack.stop()


@pytest.fixture
def stack(running_stack, request):
    """The service with empty tables and a fresh worker; its processes' logs are printed on failure."""
    running_stack.reset()
    running_stack.start_worker()
    yield running_stack
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(running_stack.diagnostics())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
