"""Prometheus metrics: `/metrics`, behind METRICS_TOKEN (a bearer token; unset, the path is 404).

Two parts in one answer:
- counters and durations counted in each process: HTTP requests by endpoint (here), USSD hops, Daraja
  requests and SMS sends (observability.py); with gunicorn set PROMETHEUS_MULTIPROC_DIR to one empty
  folder per host, shared by the web processes and the worker, and they add up;
- the state of the books, read from the database at scrape time, so every process (and the worker,
  whose work lands there) tells the same story: money held, outbox depth and oldest due item, open
  findings, callbacks of the last day by source and status, the worker heartbeat's age.
"""
import hmac
import time

from flask import Blueprint, Response, abort, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from escrow import metrics_queries
from observability import process_registry

REQUESTS = Counter("zemi_http_requests_total", "HTTP requests answered, by blueprint, endpoint and status",
                   ["blueprint", "endpoint", "status"])
DURATION = Histogram("zemi_http_request_duration_seconds", "Time to answer an HTTP request, by endpoint",
                     ["blueprint", "endpoint"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))


def make_metrics_blueprint(db, redis_client, env) -> Blueprint:
    token = (env.get("METRICS_TOKEN") or "").strip()
    bp = Blueprint("metrics", __name__)

    @bp.before_app_request
    def started():
        g.metrics_started = time.perf_counter()

    @bp.after_app_request
    def counted(response):
        started_at = g.pop("metrics_started", None)
        if started_at is not None and request.path != "/metrics":
            labels = (request.blueprint or "app", request.endpoint or "unmatched")
            REQUESTS.labels(*labels, str(response.status_code)).inc()
            DURATION.labels(*labels).observe(time.perf_counter() - started_at)
        return response

    @bp.route("/metrics")
    def metrics():
        given = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            abort(404)
        books = CollectorRegistry()
        books.register(BooksCollector(db, redis_client))
        body = generate_latest(process_registry()) + generate_latest(books)
        return Response(body, content_type=CONTENT_TYPE_LATEST)

    return bp


class BooksCollector:
    """Gauges read from the database (and the heartbeat from Redis) at each scrape."""

    def __init__(self, db, redis_client):
        self.db, self.redis = db, redis_client

    def collect(self):
        with self.db.transaction() as session:
            state = metrics_queries.books(session)
        yield _gauge("zemi_money_held_kes", "Money held in escrow now (KES)", state.held)
        yield _gauge("zemi_suspense_kes", "Money received that matched nothing, awaiting review (KES)", state.suspense)
        yield _gauge("zemi_outbox_depth", "Outbox items due now and not yet done", state.outbox_pending)
        yield _gauge("zemi_outbox_scheduled", "Outbox items waiting for a later due time", state.outbox_scheduled)
        yield _gauge("zemi_outbox_oldest_due_age_seconds", "Age of the oldest pending outbox item past its due time",
                     state.outbox_oldest_due_seconds)
        yield _gauge("zemi_findings_open", "Findings waiting for an operator", state.findings_open)
        callbacks = GaugeMetricFamily("zemi_callbacks_last_day", "Provider callbacks received in the last 24 h, "
                                      "by source and status", labels=["source", "status"])
        for (source, status), count in sorted(state.callbacks.items()):
            callbacks.add_metric([source, status], count)
        yield callbacks
        orders = GaugeMetricFamily("zemi_orders", "Orders by state", labels=["state"])
        for name, count in sorted(state.orders.items()):
            orders.add_metric([name], count)
        yield orders
        yield _gauge("zemi_worker_heartbeat_age_seconds", "Seconds since the worker's last pass (-1: none)",
                     self._heartbeat_age())

    def _heartbeat_age(self) -> float:
        from console.health import HEARTBEAT_KEY
        try:
            beat = self.redis.get(HEARTBEAT_KEY)
        except Exception:  # noqa: BLE001 -- Redis down: reported as no heartbeat
            return -1.0
        return -1.0 if beat is None else max(0.0, time.time() - float(beat))


def _gauge(name: str, documentation: str, value) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))
