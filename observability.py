"""Prometheus series for the adapters' work (issue 15), hooked in by app.py, the composition root, so
no adapter imports another or this module: USSD hops (by screen and outcome, with duration), Daraja
requests and SMS sends (by endpoint and outcome, with duration). The books (money held, outbox, findings,
callbacks by source and status) are read from the database at scrape time (console/metrics.py).

Web processes under gunicorn and the worker count into one PROMETHEUS_MULTIPROC_DIR per host (set in
both environments before they start, emptied at each deploy): /metrics adds every process up. A worker
on another host serves its own on WORKER_METRICS_PORT (127.0.0.1 unless WORKER_METRICS_ADDR)."""
import logging
import re
import time
from typing import Mapping
from urllib.parse import urlsplit

from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

FAST = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5)
SLOW = (.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30)
USSD_HOPS = Counter("zemi_ussd_hops_total", "USSD hops answered, by the screen shown and outcome "
                    "(continue, end, refused)", ["screen", "outcome"])
USSD_HOP_SECONDS = Histogram("zemi_ussd_hop_duration_seconds", "Time to answer a USSD hop, by screen", ["screen"],
                             buckets=FAST)
DARAJA_REQUESTS = Counter("zemi_daraja_requests_total", "Requests to Daraja, by endpoint and outcome "
                          "(ok, http_4xx, http_5xx, timeout, connection, error)", ["endpoint", "outcome"])
DARAJA_SECONDS = Histogram("zemi_daraja_request_duration_seconds", "Time a Daraja request took, by endpoint",
                           ["endpoint"], buckets=SLOW)
SMS_SENDS = Counter("zemi_sms_sends_total", "SMS handed to the provider, by backend and outcome "
                    "(accepted, retry, refused, error)", ["endpoint", "outcome"])
SMS_SECONDS = Histogram("zemi_sms_send_duration_seconds", "Time an SMS send took, by backend", ["endpoint"],
                        buckets=SLOW)
_SCREEN = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
_DIGITS = re.compile(r"\d{4,}")


def observe_ussd_hops(app, blueprint: str = "ussd") -> None:
    """Count and time each hop the USSD blueprint answers; its screen comes from the response's
    `at-ussd-hop-metadata` header (ussd/routes.py sets it), its outcome from CON / END."""
    from flask import g, request

    @app.before_request
    def hop_started():
        if request.blueprint == blueprint:
            g.ussd_hop_started = time.perf_counter()

    @app.after_request
    def hop_answered(response):
        started = g.pop("ussd_hop_started", None)
        if started is None or request.endpoint != f"{blueprint}.session":
            return response
        screen = response.headers.get("at-ussd-hop-metadata") or "none"
        screen = screen if _SCREEN.match(screen) else "other"
        body = response.get_data()[:3] if not response.direct_passthrough else b""
        outcome = ("refused" if response.status_code >= 400 else "continue" if body == b"CON"
                   else "end" if body == b"END" else "other")
        USSD_HOPS.labels(screen, outcome).inc()
        USSD_HOP_SECONDS.labels(screen).observe(time.perf_counter() - started)
        return response


def ussd_hop_counter():
    """`count(screen, end, seconds)` for a hop answered before Flask (ussd/lane.py): the series the two
    Flask hooks would have counted, observe_ussd_hops' above and console/metrics.py's HTTP requests
    (blueprint ussd, endpoint ussd.session, status 200). Each label set's series is looked up once."""
    from console.metrics import DURATION, REQUESTS   # the HTTP series live with /metrics

    request = (REQUESTS.labels("ussd", "ussd.session", "200"), DURATION.labels("ussd", "ussd.session"))
    series: dict = {}

    def count(screen: str, end: bool, seconds: float) -> None:
        found = series.get((screen, end))
        if found is None:
            label = screen if _SCREEN.match(screen or "") else ("other" if screen else "none")
            found = series[(screen, end)] = (USSD_HOPS.labels(label, "end" if end else "continue"),
                                              USSD_HOP_SECONDS.labels(label))
        found[0].inc()
        found[1].observe(seconds)
        request[0].inc()
        request[1].observe(seconds)

    return count


def observe_http(session, service: str = "daraja") -> None:
    """Time every request `session` (a requests.Session) makes; the endpoint is the URL's path (long
    digit runs folded, no query), the outcome its status class or the kind of failure."""
    import requests

    request = session.request

    def timed(method, url, *args, **kwargs):
        endpoint = _DIGITS.sub("N", urlsplit(str(url)).path)[:80] or "/"
        started, outcome = time.perf_counter(), "error"
        try:
            response = request(method, url, *args, **kwargs)
            code = response.status_code
            outcome = "ok" if code < 400 else f"http_{code // 100}xx"
            return response
        except requests.Timeout:
            outcome = "timeout"
            raise
        except requests.ConnectionError:
            outcome = "connection"
            raise
        finally:
            DARAJA_REQUESTS.labels(endpoint, outcome).inc()
            DARAJA_SECONDS.labels(endpoint).observe(time.perf_counter() - started)

    session.request = timed


def observe_sms(sender, endpoint: str):
    """Time every `sender.send` (the SMS port); the outcome from its receipt, or `error` if it raised."""
    send = sender.send

    def timed(phone, text):
        started, outcome = time.perf_counter(), "error"
        try:
            receipt = send(phone, text)
            outcome = "accepted" if receipt.accepted else ("retry" if receipt.retryable else "refused")
            return receipt
        finally:
            SMS_SENDS.labels(endpoint, outcome).inc()
            SMS_SECONDS.labels(endpoint).observe(time.perf_counter() - started)

    sender.send = timed
    return sender


def serve_worker_metrics(env: Mapping[str, str]) -> int | None:
    """The worker's own /metrics when WORKER_METRICS_PORT is set (this process's series, or the host's
    multi-process directory's); the port it listens on, else None."""
    port = int(env.get("WORKER_METRICS_PORT") or 0)
    if not port:
        return None
    from prometheus_client import start_http_server

    start_http_server(port, addr=env.get("WORKER_METRICS_ADDR") or "127.0.0.1", registry=process_registry())
    log.info("worker metrics on port %s", port)
    return port


def process_registry():
    """This process's series, or every process's on this host when PROMETHEUS_MULTIPROC_DIR is set."""
    import os

    from prometheus_client import REGISTRY, CollectorRegistry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY
