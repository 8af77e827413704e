"""Issue 11 finding 2, at the gateway: an error raised before any byte of a money request left for
Daraja is 'not sent' (retry the same request later), never 'ambiguous'; the token survives a Redis
outage. Real HTTP to the simulator, a real redis-server of the test's own that the test kills."""
import socket

import pytest

from escrow.ports import GatewayError
from mpesa.daraja import DarajaClient
from mpesa.gateway import DarajaPaymentGateway
from mpesa.simulator import SimulatorServer
from mpesa.token_store import RedisTokenStore
from tests.integration.test_daraja_client import OAUTH, make_config
from tests.redis_server import KillableRedis

STK = "/mpesa/stkpush/v1/processrequest"
B2C = "/mpesa/b2c/v3/paymentrequest"


@pytest.fixture
def sim():
    with SimulatorServer({"callback_delay": 0.05}) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path):
    server = KillableRedis(tmp_path).start()
    yield server
    server.kill()


def gateway_for(base_url: str, redis_server: KillableRedis, **config) -> DarajaPaymentGateway:
    client = DarajaClient(make_config(base_url, **config), RedisTokenStore(redis_server.client()))
    return DarajaPaymentGateway(client, public_base_url="https://zemi.example", callback_token="tok")


def push(gateway):
    return gateway.request_payment(phone="0708374149", amount=100, reference="ZEMI42", description="Order ZEMI42")


def pay_out(gateway):
    return gateway.send_payout(originator_id="ZORDER42P1", phone="0708374149", amount=250, remarks="Zemi order 42")


def test_a_push_and_a_payout_go_out_on_the_in_process_token_while_redis_is_down(sim, own_redis):
    gateway = gateway_for(sim.base_url, own_redis)
    push(gateway)                                 # the token is fetched and cached
    own_redis.kill()
    assert push(gateway).checkout_id
    assert pay_out(gateway).conversation_id
    assert len(sim.requests_received(OAUTH)) == 1   # the in-process copy, not a new token per call
    assert len(sim.requests_received(STK)) == 2 and len(sim.requests_received(B2C)) == 1


def test_with_redis_down_and_no_token_cached_a_token_is_fetched_and_the_push_sent(sim, own_redis):
    gateway = gateway_for(sim.base_url, own_redis)
    own_redis.kill()
    assert push(gateway).checkout_id
    assert pay_out(gateway).conversation_id
    assert len(sim.requests_received(OAUTH)) == 1


def test_the_token_is_shared_through_redis_again_once_it_is_back(sim, own_redis):
    gateway = gateway_for(sim.base_url, own_redis)
    own_redis.kill()
    push(gateway)
    own_redis.start()
    push(gateway)
    other_worker = gateway_for(sim.base_url, own_redis)
    push(other_worker)
    assert len(sim.requests_received(OAUTH)) <= 2 and len(sim.requests_received(STK)) == 3


def _closed_port() -> int:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return port


def test_a_refused_connection_is_not_sent_and_retryable(own_redis):
    gateway = gateway_for(f"http://127.0.0.1:{_closed_port()}", own_redis)
    for send in (push, pay_out):
        with pytest.raises(GatewayError) as error:
            send(gateway)
        assert (error.value.ambiguous, error.value.retryable) == (False, True)


def test_an_oauth_read_timeout_means_the_money_request_never_left(own_redis):
    """The token request timed out: the STK push or B2C it was for was never sent."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        gateway = gateway_for(f"http://127.0.0.1:{listener.getsockname()[1]}", own_redis, read_timeout=0.3)
        for send in (push, pay_out):
            with pytest.raises(GatewayError) as error:
                send(gateway)
            assert (error.value.ambiguous, error.value.retryable) == (False, True), str(error.value)
    finally:
        listener.close()


def test_a_request_that_cannot_be_built_is_not_sent_and_final(sim, own_redis):
    """A value Daraja would refuse (here a callback URL with a filtered word) is refused before
    anything leaves: definitely not sent, and sending it again would not help."""
    client = DarajaClient(make_config(sim.base_url), RedisTokenStore(own_redis.client()))
    gateway = DarajaPaymentGateway(client, public_base_url="https://mpesa-zemi.example", callback_token="tok")
    with pytest.raises(GatewayError) as error:
        push(gateway)
    assert (error.value.ambiguous, error.value.retryable) == (False, False)
    assert sim.requests_received(STK) == []


@pytest.mark.parametrize("attempt_id", [1, 7, 2_147_483_647])
def test_the_stk_callback_url_names_the_attempt_without_a_word_daraja_filters(attempt_id):
    from mpesa.fields import callback_url_problems
    gateway = DarajaPaymentGateway(None, public_base_url="https://zemi.example.org", callback_token="t0ken")
    url = gateway.stk_callback_url(attempt_id)
    assert url == f"https://zemi.example.org/hooks/stk/t0ken/a{attempt_id}" and callback_url_problems(url) == []
