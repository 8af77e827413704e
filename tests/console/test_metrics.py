"""/metrics: refused without its token; after a journey it shows the named series."""
import re

import pytest

from tests.e2e.conftest import _live_service
from tests.e2e.test_journey import BUYER, reference_in, settle

TOKEN = "metrics-test-token"


@pytest.fixture
def live_with_metrics(simulator, database_url, redis_url, tmp_path):
    yield from _live_service(simulator, database_url, redis_url, tmp_path, {"SMS_BACKEND": "console",
                                                                           "METRICS_TOKEN": TOKEN})


def scrape(live, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return live.app.test_client().get("/metrics", headers=headers)


def value(text: str, series: str) -> float:
    return float(re.search(rf"^{re.escape(series)} (\S+)$", text, re.M).group(1))


def test_metrics_need_the_token_and_show_the_books_after_a_journey(live_with_metrics, simulator):
    live = live_with_metrics
    assert scrape(live, None).status_code == 404 and scrape(live, "wrong").status_code == 404
    reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    text = scrape(live).get_data(as_text=True)
    assert value(text, "zemi_money_held_kes") == 1500
    assert value(text, 'zemi_orders{state="funded"}') == 1
    assert value(text, 'zemi_callbacks_last_day{source="stk",status="applied"}') == 1
    assert value(text, "zemi_outbox_depth") == 0 and value(text, "zemi_findings_open") == 0
    assert 0 <= value(text, "zemi_worker_heartbeat_age_seconds") < 3600
    assert value(text, 'zemi_http_requests_total{blueprint="ussd",endpoint="ussd.session",status="200"}') >= 6
    assert 'zemi_http_request_duration_seconds_bucket{blueprint="ussd"' in text
    assert "254712345678" not in text
    # the adapters' work, counted where app.py hooks it in (observability.py)
    assert value(text, 'zemi_ussd_hops_total{outcome="continue",screen="main"}') >= 1
    assert re.search(r'^zemi_ussd_hops_total\{outcome="end",screen="[\w.]+"\} [1-9]', text, re.M)
    assert 'zemi_ussd_hop_duration_seconds_bucket{le="0.5",screen="main"}' in text
    assert value(text, 'zemi_daraja_requests_total{endpoint="/mpesa/stkpush/v1/processrequest",outcome="ok"}') >= 1
    assert 'zemi_daraja_request_duration_seconds_count{endpoint="/oauth/v1/generate"}' in text
    assert value(text, 'zemi_sms_sends_total{endpoint="console",outcome="accepted"}') >= 1
    assert "zemi_sms_send_duration_seconds_count{endpoint=\"console\"}" in text


def test_the_worker_and_web_processes_add_up_in_one_multiprocess_directory(tmp_path):
    """gunicorn's web processes and the worker on one host share PROMETHEUS_MULTIPROC_DIR: what the worker
    process counted shows in a web process's /metrics answer."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = ("import observability as o; o.SMS_SENDS.labels('africastalking', 'accepted').inc(3); "
              "o.DARAJA_REQUESTS.labels('/mpesa/b2c/v3/paymentrequest', 'timeout').inc()")
    web = ("from prometheus_client import generate_latest; from observability import process_registry; "
           "import sys; sys.stdout.write(generate_latest(process_registry()).decode())")
    for code in (worker, worker):
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    text = subprocess.run([sys.executable, "-c", web], env=env, check=True, timeout=60, capture_output=True,
                          text=True).stdout
    assert value(text, 'zemi_sms_sends_total{endpoint="africastalking",outcome="accepted"}') == 6
    assert value(text, 'zemi_daraja_requests_total{endpoint="/mpesa/b2c/v3/paymentrequest",outcome="timeout"}') == 2


def test_metrics_are_off_without_a_token(live):
    assert scrape(live).status_code == 404
