"""The real Daraja client over real HTTP against the simulator, with the token in real Redis."""
import base64
import datetime as dt
import json
import socket
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from mpesa.daraja import DarajaClient, DarajaConfig
from mpesa.errors import (DarajaAuthError, DarajaRejected, DarajaTimeout, DarajaUnreachable)
from mpesa.results import parse_b2c_result, parse_stk_callback, parse_transaction_status_result
from mpesa.simulator import SimulatorServer
from mpesa.token_store import RedisTokenStore

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
PHONE = "254708374149"
OAUTH = "/oauth/v1/generate"
STK = "/mpesa/stkpush/v1/processrequest"
B2C = "/mpesa/b2c/v3/paymentrequest"
FAST = {"callback_delay": 0.05, "late_delay": 0.6}


class CallbackReceiver:
    """A tiny HTTP server on port 0 that records every JSON POST by path."""

    def __init__(self, answers: dict | None = None):
        self.answers = answers or {}
        self.received: list[tuple[str, dict]] = []
        self._cond = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def bodies(self, path: str) -> list[dict]:
        with self._cond:
            return [body for p, body in self.received if p == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 5) -> list[dict]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.bodies(path)) >= count, timeout)
        bodies = self.bodies(path)
        assert len(bodies) >= count, f"expected {count} POSTs to {path}, got {len(bodies)}"
        return bodies

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._cond:
            self.received.append((request.path, request.get_json(silent=True)))
            self._cond.notify_all()
        answer = self.answers.get(request.path, {"ResultCode": 0, "ResultDesc": "Accepted"})
        return Response(json.dumps(answer), mimetype="application/json")(environ, start_response)


@pytest.fixture
def sim():
    with SimulatorServer(FAST) as server:
        yield server


@pytest.fixture
def receiver():
    with CallbackReceiver() as server:
        yield server


@pytest.fixture
def store(redis_client):
    return RedisTokenStore(redis_client)


def make_config(base_url: str, **overrides) -> DarajaConfig:
    settings = dict(base_url=base_url, consumer_key="sim-key", consumer_secret="sim-secret",
                    shortcode="174379", passkey=SANDBOX_PASSKEY, b2c_shortcode="600992",
                    initiator_name="testapi", security_credential="c2VjcmV0",
                    connect_timeout=1.0, read_timeout=5.0)
    return DarajaConfig(**{**settings, **overrides})


def push(client, receiver, **overrides):
    arguments = dict(phone="0708374149", amount=100, account_reference="ZEMI-ORD-0042",
                     description="Escrow payment", callback_url=receiver.url("/hooks/stk"))
    return client.stk_push(**{**arguments, **overrides})


def payout(client, receiver, originator="ZEMI-PAYOUT-1", **overrides):
    arguments = dict(originator_conversation_id=originator, phone="0708374149", amount=250,
                     remarks="Escrow release", occasion="Order 42",
                     result_url=receiver.url("/hooks/b2c/result"),
                     timeout_url=receiver.url("/hooks/b2c/timeout"))
    return client.b2c_payment(**{**arguments, **overrides})


def test_token_is_fetched_once_and_shared_by_two_clients_through_redis(sim, receiver, store,
                                                                       redis_client):
    first = DarajaClient(make_config(sim.base_url), store)
    second = DarajaClient(make_config(sim.base_url), RedisTokenStore(redis_client))
    push(first, receiver)
    push(second, receiver)
    assert len(sim.requests_received(OAUTH)) == 1
    assert first.access_token() == second.access_token()
    keys = [k.decode() for k in redis_client.keys("zemi:daraja:token:*")]
    assert len(keys) == 1 and "sim-key" not in keys[0] and "sim-secret" not in keys[0]
    assert 3200 < redis_client.ttl(keys[0]) <= 3599 - 300  # expires_in arrives as the string "3599"


def test_concurrent_first_calls_fetch_a_single_token(sim, store):
    clients = [DarajaClient(make_config(sim.base_url), store) for _ in range(6)]
    tokens, barrier = [], threading.Barrier(len(clients))

    def fetch(client):
        barrier.wait()
        tokens.append(client.access_token())
    threads = [threading.Thread(target=fetch, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(set(tokens)) == 1 and len(tokens) == len(clients)
    assert len(sim.requests_received(OAUTH)) == 1


def test_refused_token_is_replaced_and_the_call_retried_once(sim, receiver, store):
    client = DarajaClient(make_config(sim.base_url), store)
    stale = client.access_token()
    sim.revoke_tokens()
    accepted = push(client, receiver)
    assert accepted.checkout_request_id.startswith("ws_CO_")
    assert client.access_token() != stale
    assert len(sim.requests_received(OAUTH)) == 2
    bearer = [r["headers"]["Authorization"] for r in sim.requests_received(STK)]
    assert bearer == [f"Bearer {stale}", f"Bearer {client.access_token()}"]


def test_wrong_consumer_secret_is_an_auth_error(sim, store):
    client = DarajaClient(make_config(sim.base_url, consumer_secret="wrong"), store)
    with pytest.raises(DarajaAuthError) as caught:
        client.access_token()
    assert caught.value.error_code == "400.008.01" and caught.value.http_status == 400


def test_stk_push_sends_daraja_fields_and_the_callback_arrives(sim, receiver, store):
    moment = dt.datetime(2021, 6, 28, 6, 24, 8, tzinfo=dt.timezone.utc)  # 09:24:08 in Nairobi
    client = DarajaClient(make_config(sim.base_url), store, now=lambda: moment)
    accepted = push(client, receiver)
    sent = sim.requests_received(STK)[0]["json"]
    assert sent["Timestamp"] == "20210628092408"
    assert base64.b64decode(sent["Password"]).decode() == "174379" + SANDBOX_PASSKEY + "20210628092408"
    assert (sent["Amount"], sent["PartyA"], sent["PhoneNumber"], sent["PartyB"]) == (
        100, PHONE, PHONE, "174379")
    assert (sent["AccountReference"], sent["TransactionDesc"]) == ("ZEMIORD0042", "Escrow paymen")
    assert accepted.response_code == "0"
    callback = parse_stk_callback(receiver.wait_for("/hooks/stk")[0])
    assert callback.checkout_request_id == accepted.checkout_request_id
    assert (callback.result_code, callback.amount, callback.phone) == ("0", 100, PHONE)


def test_till_push_names_the_till_as_party_b(receiver, store):
    with SimulatorServer({**FAST, "till_number": "5432109"}) as till_sim:
        config = make_config(till_sim.base_url, transaction_type="CustomerBuyGoodsOnline",
                             till_number="5432109")
        push(DarajaClient(config, store), receiver)
        sent = till_sim.requests_received(STK)[0]["json"]
    assert (sent["TransactionType"], sent["PartyB"], sent["BusinessShortCode"]) == (
        "CustomerBuyGoodsOnline", "5432109", "174379")


def test_stk_query_is_pending_until_the_customer_acts_then_final(sim, receiver, store):
    sim.set_scenario(PHONE, "cancelled")
    client = DarajaClient(make_config(sim.base_url), store)
    accepted = push(client, receiver)
    pending = client.stk_query(accepted.checkout_request_id)
    assert pending.pending and pending.result_code is None
    assert sim.drain()
    final = client.stk_query(accepted.checkout_request_id)
    assert (final.pending, final.result_code) == (False, "1032")


def test_stk_query_v2_is_used_when_configured(sim, receiver, store):
    client = DarajaClient(make_config(sim.base_url, stk_query_version="v2"), store)
    accepted = push(client, receiver)
    sim.drain()
    assert client.stk_query(accepted.checkout_request_id).result_code == "0"
    assert len(sim.requests_received("/mpesa/stkpushquery/v2/query")) == 1


def test_stk_query_for_an_unknown_checkout_is_rejected(sim, store):
    client = DarajaClient(make_config(sim.base_url), store)
    with pytest.raises(DarajaRejected) as caught:
        client.stk_query("ws_CO_000000000000")
    assert caught.value.error_code == "400.002.02" and caught.value.request_id


def test_b2c_is_accepted_and_its_result_reaches_the_result_url(sim, receiver, store):
    client = DarajaClient(make_config(sim.base_url), store)
    accepted = payout(client, receiver)
    assert accepted.conversation_id.startswith("AG_")
    assert accepted.originator_conversation_id == "ZEMI-PAYOUT-1"
    sent = sim.requests_received(B2C)[0]["json"]
    assert sent["Occassion"] == "Order 42" and "Occasion" not in sent
    assert (sent["PartyA"], sent["PartyB"], sent["Amount"]) == ("600992", PHONE, 250)
    result = parse_b2c_result(receiver.wait_for("/hooks/b2c/result")[0])
    assert result.succeeded and result.amount == 250
    assert result.conversation_id == accepted.conversation_id


def test_repeated_originator_conversation_id_is_rejected_and_not_retried(sim, receiver, store):
    client = DarajaClient(make_config(sim.base_url), store)
    payout(client, receiver, originator="ZEMI-PAYOUT-7")
    with pytest.raises(DarajaRejected) as caught:
        payout(client, receiver, originator="ZEMI-PAYOUT-7")
    assert caught.value.error_code == "500.002.1001" and caught.value.http_status == 500
    assert len(sim.requests_received(B2C)) == 2


def test_transaction_status_reveals_a_payout_whose_result_never_came(sim, receiver, store):
    sim.set_scenario(PHONE, "b2c_no_result")
    client = DarajaClient(make_config(sim.base_url), store)
    payout(client, receiver, originator="ZEMI-PAYOUT-9")
    status = client.transaction_status(originator_conversation_id="ZEMI-PAYOUT-9",
                                       result_url=receiver.url("/hooks/status"),
                                       timeout_url=receiver.url("/hooks/status-timeout"))
    assert status.response_code == "0" and status.conversation_id.startswith("AG_")
    sent = sim.requests_received("/mpesa/transactionstatus/v1/query")[0]["json"]
    assert (sent["IdentifierType"], sent["PartyA"], sent["Occasion"]) == ("4", "600992", "status")
    assert sent["OriginalConversationID"] == "ZEMI-PAYOUT-9"
    result = parse_transaction_status_result(receiver.wait_for("/hooks/status")[0])
    assert result.queried_originator_conversation_id == "ZEMI-PAYOUT-9"
    assert (result.transaction_status, result.amount) == ("Completed", 250)
    assert receiver.bodies("/hooks/b2c/result") == []


def _silent_server():
    """A socket that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


def test_read_timeout_on_b2c_is_a_timeout_and_is_never_resent(sim, receiver, store):
    DarajaClient(make_config(sim.base_url), store).access_token()  # a cached, shared token
    listener = _silent_server()
    try:
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        client = DarajaClient(make_config(base_url, read_timeout=0.3), store)
        with pytest.raises(DarajaTimeout):
            payout(client, receiver)
        listener.settimeout(0.2)
        connection, _ = listener.accept()  # the one request that was sent
        connection.close()
        with pytest.raises(socket.timeout):
            listener.accept()  # and no second attempt
    finally:
        listener.close()


def test_refused_connection_is_unreachable(store):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    client = DarajaClient(make_config(f"http://127.0.0.1:{port}"), store)
    with pytest.raises(DarajaUnreachable):
        client.access_token()


def test_register_and_simulate_c2b_reach_the_registered_urls(sim, receiver, store):
    client = DarajaClient(make_config(sim.base_url, c2b_shortcode="600984"), store)
    registered = client.register_c2b_urls(confirmation_url=receiver.url("/hooks/c2b/confirm"),
                                          validation_url=receiver.url("/hooks/c2b/validate"))
    assert registered.response_code == "0" and registered.originator_conversation_id
    client.c2b_simulate(amount=500, msisdn="0708374149", bill_ref_number="ZEMI42")
    confirmation = receiver.wait_for("/hooks/c2b/confirm")[0]
    assert confirmation["BillRefNumber"] == "ZEMI42" and confirmation["TransAmount"] == "500.00"
    assert confirmation["BusinessShortCode"] == "600984"
