"""/livez (the process answers) and /readyz (the database, Redis, and a fresh worker heartbeat), and
the heartbeat itself: the worker writes a Redis key at most every few seconds, each pass."""
import logging
import time

from flask import Blueprint
from sqlalchemy import text

from escrow.settings import read_int

log = logging.getLogger(__name__)
HEARTBEAT_KEY = "zemi:worker:heartbeat"
BEAT_EVERY = 5.0


def make_health_blueprint(db, redis_client, env, on_worker_stale=None) -> Blueprint:
    """WORKER_HEARTBEAT_MAX_AGE_SECONDS (default 120): an older heartbeat makes /readyz answer 503 and
    calls `on_worker_stale(age or None)` (app.py: the alert to ALERT_PHONES, at most hourly)."""
    max_age = read_int(env, "WORKER_HEARTBEAT_MAX_AGE_SECONDS", 120, minimum=1)
    bp = Blueprint("health", __name__)

    @bp.route("/livez")
    def livez():
        return {"status": "ok"}

    @bp.route("/readyz")
    def readyz():
        checks = {"database": _database(db), "redis": _redis(redis_client),
                  "worker": _worker(redis_client, max_age)}
        if on_worker_stale is not None and checks["database"] == "ok" and checks["redis"] == "ok" \
                and checks["worker"] != "ok":
            try:
                on_worker_stale(heartbeat_age(redis_client))
            except Exception:  # noqa: BLE001 -- readiness answers whatever the alert does
                log.exception("stale worker alert failed")
        failing = [name for name, state in checks.items() if state != "ok"]
        body = {"status": "ok" if not failing else "failing: " + ", ".join(failing), "checks": checks}
        return body, (503 if failing else 200)

    from console.metrics import make_metrics_blueprint
    bp.register_blueprint(make_metrics_blueprint(db, redis_client, env))   # /metrics (METRICS_TOKEN)
    return bp


def _database(db) -> str:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return "ok"
    except Exception as error:  # noqa: BLE001 -- any failure is "not ready", named
        return f"unreachable ({type(error).__name__})"


def _redis(redis_client) -> str:
    try:
        redis_client.ping()
        return "ok"
    except Exception as error:  # noqa: BLE001
        return f"unreachable ({type(error).__name__})"


def _worker(redis_client, max_age: int) -> str:
    try:
        beat = redis_client.get(HEARTBEAT_KEY)
    except Exception as error:  # noqa: BLE001
        return f"unknown (Redis: {type(error).__name__})"
    if beat is None:
        return "no heartbeat yet (is `flask worker` running?)"
    age = time.time() - float(beat)
    return "ok" if age <= max_age else f"stale ({int(age)} s since the last pass)"


def heartbeat_age(redis_client) -> float | None:
    """Seconds since the worker's last recorded pass; None when there is none (or Redis is down)."""
    try:
        beat = redis_client.get(HEARTBEAT_KEY)
    except Exception:  # noqa: BLE001
        return None
    return None if beat is None else max(0.0, time.time() - float(beat))


def beat_each_pass(worker, redis_client):
    """Wrap `worker.run_once` so each pass (at most every BEAT_EVERY s) records the time in Redis; a
    Redis outage never stops the worker."""
    run_once, last = worker.run_once, [0.0]

    def run_once_and_beat() -> int:
        handled = run_once()
        now = time.time()
        if now - last[0] >= BEAT_EVERY:
            try:
                redis_client.set(HEARTBEAT_KEY, f"{now:.3f}")
                last[0] = now
            except Exception as error:  # noqa: BLE001
                log.warning("worker heartbeat not written: %s", type(error).__name__)
        return handled

    worker.run_once = run_once_and_beat
    return worker
