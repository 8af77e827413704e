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


def test_metrics_are_off_without_a_token(live):
    assert scrape(live).status_code == 404
