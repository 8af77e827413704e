"""/livez answers while the process runs; /readyz names what is not ready (database, Redis, the worker's
heartbeat) with a 503, and recovers when it comes back."""
import shutil
import tempfile
from pathlib import Path

import pytest

from app import create_app
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.redis_server import KillableRedis


def app_on(tmp_path, database_url: str, redis_url: str):
    return create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url,
                       "REDIS_URL": redis_url, "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY,
                       "CALLBACK_TOKEN": "health-token"})


def readiness(app) -> tuple[int, dict]:
    response = app.test_client().get("/readyz")
    return response.status_code, response.get_json()


def test_ready_only_once_the_worker_has_made_a_pass(tmp_path, database_url, redis_url):
    app = app_on(tmp_path, database_url, redis_url)
    app.extensions["zemi"].redis.flushdb()
    assert app.test_client().get("/livez").get_json() == {"status": "ok"}
    status, body = readiness(app)
    assert status == 503 and body["status"] == "failing: worker" and body["checks"]["database"] == "ok"
    with app.app_context():
        app.extensions["zemi"].worker().run_once()
    assert readiness(app) == (200, {"status": "ok", "checks": {"database": "ok", "redis": "ok", "worker": "ok"}})
    assert app.test_client().get("/health").status_code == 200


def test_a_stale_heartbeat_is_not_ready(tmp_path, database_url, redis_url):
    from console.health import HEARTBEAT_KEY
    app = app_on(tmp_path, database_url, redis_url)
    app.extensions["zemi"].redis.set(HEARTBEAT_KEY, "1000.0")    # a pass long ago
    status, body = readiness(app)
    assert status == 503 and body["checks"]["worker"].startswith("stale")


def test_redis_stopped_is_named_and_ready_again_when_it_returns(tmp_path, database_url):
    server = KillableRedis(tmp_path).start()
    try:
        app = app_on(tmp_path, database_url, server.url)
        with app.app_context():
            app.extensions["zemi"].worker().run_once()
        assert readiness(app)[0] == 200
        server.kill()
        status, body = readiness(app)
        assert status == 503 and "redis" in body["status"] and body["checks"]["database"] == "ok"
        assert app.test_client().get("/livez").status_code == 200
        server.start()
        with app.app_context():
            app.extensions["zemi"].worker().run_once()
        assert readiness(app)[0] == 200
    finally:
        server.kill()


@pytest.mark.faults
def test_postgresql_stopped_is_named_and_ready_again_when_it_returns(tmp_path, redis_url):
    from tests.faults.servers import PostgresServer, Unavailable
    from escrow.migrate import upgrade
    base = Path(tempfile.mkdtemp(prefix="zemi-readyz-"))   # a folder the postgres user can enter
    try:
        server = PostgresServer(base).init()
    except Unavailable as missing:
        pytest.skip(str(missing))
    server.start()
    try:
        server.create_database("zemi_ready")
        upgrade(server.url("zemi_ready"))
        app = app_on(tmp_path, server.url("zemi_ready"), redis_url)
        with app.app_context():
            app.extensions["zemi"].worker().run_once()
        assert readiness(app)[0] == 200
        server.stop()
        status, body = readiness(app)
        assert status == 503 and body["status"] == "failing: database"
        server.start()
        assert readiness(app)[0] == 200
        app.extensions["zemi"].db.dispose()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
