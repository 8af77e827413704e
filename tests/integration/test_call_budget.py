"""The Daraja call budget: a token bucket per API in real Redis, shared by every process, an
in-process bucket when Redis is down, Daraja's rate-limit answers holding everyone off, and a call
that would wait too long never sent. Time is a fake clock the fake sleep advances: nothing timed."""
import threading

import pytest
import redis
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from mpesa.budget import BudgetedSession, BudgetExhausted, BudgetSettings, CallBudget, api_of
from mpesa.daraja import DarajaClient, DarajaConfig
from mpesa.errors import DarajaRejected, DarajaUnreachable
from mpesa.simulator import SimulatorServer
from mpesa.token_store import RedisTokenStore

PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


class FakeTime:
    def __init__(self):
        self.now, self.slept = 1_000_000.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def budget(client, time, **settings):
    return CallBudget(client, BudgetSettings(**{"calls_per_second": 2, "burst": 3, **settings}),
                      clock=time.clock, sleep=time.sleep)


def test_a_burst_passes_then_each_call_waits_for_its_token(redis_client):
    time = FakeTime()
    calls = budget(redis_client, time)
    assert [calls.wait("stkpush") for _ in range(3)] == [0, 0, 0]
    assert calls.wait("stkpush") == pytest.approx(0.5)        # 2 a second: the next token in 0.5 s
    assert calls.wait("b2c") == 0                               # each API has its own bucket


def test_every_process_shares_one_bucket_through_redis(redis_url, redis_client):
    time = FakeTime()
    web, worker = budget(redis_client, time), budget(redis.Redis.from_url(redis_url), time)
    waits = [web.wait("b2c"), worker.wait("b2c"), web.wait("b2c"), worker.wait("b2c")]
    assert waits[:3] == [0, 0, 0] and waits[3] == pytest.approx(0.5)


def test_without_redis_the_process_keeps_its_own_bucket():
    time = FakeTime()
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    calls = budget(down, time)
    assert [calls.wait("stkpush") for _ in range(3)] == [0, 0, 0]
    assert calls.wait("stkpush") == pytest.approx(0.5)


def test_a_call_that_would_wait_too_long_is_refused_before_anything_is_taken(redis_client):
    time = FakeTime()
    calls = budget(redis_client, time, max_wait_seconds=0.1)
    for _ in range(3):
        calls.wait("stkpush")
    with pytest.raises(BudgetExhausted):
        calls.wait("stkpush")
    assert time.slept == []


def test_the_api_is_named_by_its_path():
    assert api_of("https://api.safaricom.co.ke/mpesa/stkpush/v1/processrequest") == "stkpush"
    assert api_of("http://127.0.0.1:1/pulltransactions/v1/query") == "pulltransactions"
    assert api_of("http://x/oauth/v1/generate?grant_type=client_credentials") == "oauth"


def _client(base_url, session, redis_client):
    config = DarajaConfig(base_url=base_url, consumer_key="sim-key", consumer_secret="sim-secret",
                          shortcode="174379", passkey=PASSKEY, b2c_shortcode="600000", initiator_name="testapi",
                          security_credential="cred")
    return DarajaClient(config, RedisTokenStore(redis_client), http=session)


def test_the_real_client_spends_the_budget_and_an_exhausted_budget_sends_nothing(redis_client):
    time = FakeTime()
    with SimulatorServer({"callback_delay": 0.05}) as sim:
        client = _client(sim.base_url, BudgetedSession(budget(redis_client, time, max_wait_seconds=0)), redis_client)
        for _ in range(3):
            client.stk_push(phone="254708374149", amount=10, account_reference="AB12CD34", description="Order",
                            callback_url="https://example.com/hooks/stk/t")
        with pytest.raises(DarajaUnreachable):      # "not sent": the outbox retries it later
            client.stk_push(phone="254708374149", amount=10, account_reference="AB12CD34", description="Order",
                            callback_url="https://example.com/hooks/stk/t")
        assert len(sim.requests_received("/mpesa/stkpush/v1/processrequest")) == 3


def _rate_limiting_server():
    def app(environ, start_response):
        if environ["PATH_INFO"].startswith("/oauth"):
            body = b'{"access_token": "t", "expires_in": "3599"}'
            return Response(body, 200, content_type="application/json")(environ, start_response)
        body = b'{"requestId": "1", "errorCode": "500.003.02", "errorMessage": "Spike arrest violation"}'
        return Response(body, 500, content_type="application/json")(environ, start_response)
    return make_server("127.0.0.1", 0, app, threaded=True)


def test_darajas_spike_arrest_holds_every_process_off_that_api(redis_url, redis_client):
    time = FakeTime()
    server = _rate_limiting_server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = _client(f"http://127.0.0.1:{server.server_port}", BudgetedSession(
            budget(redis_client, time, backoff_seconds=7, burst=100)), redis_client)
        with pytest.raises(DarajaRejected) as refused:
            client.b2c_payment(originator_conversation_id="Z1", phone="254708374149", amount=10, remarks="Payout",
                               occasion="", result_url="https://example.com/r", timeout_url="https://example.com/t")
        assert refused.value.error_code == "500.003.02"
        other_process = budget(redis.Redis.from_url(redis_url), time, burst=100)
        assert other_process.wait("b2c") == pytest.approx(7)   # held off, then allowed
        assert other_process.wait("stkpush") == 0                # other APIs are not
    finally:
        server.shutdown()
