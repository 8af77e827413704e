"""Golden USSD conversations, replayed through Flask and a real Redis.

Each tests/integration/conversations/*.yaml file holds a list of conversations:

    - name: what the conversation shows            (the test id)
      caller: "+254711000111"                      (phoneNumber for every hop)
      network: "63903"                             (optional: networkCode, 63902 Safaricom by default)
      language: sw                                 (optional: remembered language before dialling)
      service: {fee_payer: buyer}                  (optional: FakeEscrowService settings)
      settings: {USSD_RATE_LIMIT_PER_MINUTE: "3"}  (optional: UssdSettings mapping)
      store: down                                  (optional: Redis unreachable)
      orders:                                      (optional: orders seeded in the fake)
        - {buyer: "+254711000111", seller: "0722000222", price: 900, item: Shoes, state: funded, code: "123456"}
      hops:
        - dial: true                  a new session (new sessionId, text "")
        - dial: "4*123456"            a new session dialled straight in (*384*1234*4*123456#)
        - type: "1"                   the caller's answer, appended to text with "*"
        - text: "1*0722000222"        send exactly this text in the current session
        - replay: true                send the previous request again, unchanged
        - flush: true                 (with any of the above) empty Redis before sending
          see: ["..."]                each must appear in the reply (without "CON "/"END ")
          not_see: ["..."]            none may appear
          end: true                   the reply must be END (false: CON)
          calls: {create_order: 1}    the fake's write counts after this hop
          same_as_previous: true      the reply must equal the previous one
Every reply is also checked: HTTP 200, text/plain, CON/END prefix, <= 160 chars, GSM-7.
"""
import itertools
import pathlib

import pytest
import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry
from flask import Flask

from tests.fakes.escrow_service import FakeEscrowService
from ussd.gsm7 import is_gsm7
from ussd.routes import make_ussd_blueprint
from ussd.session_store import RedisSessionStore
from ussd.settings import UssdSettings

CONVERSATIONS = pathlib.Path(__file__).parent / "conversations"
_session_numbers = itertools.count(1)


def load_conversations():
    for path in sorted(CONVERSATIONS.glob("*.yaml")):
        for conversation in yaml.safe_load(path.read_text()):
            yield pytest.param(conversation, id=f"{path.stem}: {conversation['name']}")


def make_client(service, store, settings):
    app = Flask(__name__)
    app.register_blueprint(make_ussd_blueprint(service, store, settings))
    return app.test_client()


def closed_port_client():
    """A client for a Redis that is not there (nothing listens on port 1), failing fast."""
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))


class Phone:
    """The gateway's side of a conversation: the session id and the answers so far."""

    def __init__(self, client, caller, network="63902"):
        self.client, self.caller, self.network = client, caller, network
        self.session_id, self.answers = None, []

    def send(self, hop):
        if hop.get("dial"):
            typed = hop["dial"] if isinstance(hop["dial"], str) else ""
            self.session_id, self.answers = f"ATUid_golden{next(_session_numbers)}", typed.split("*") if typed else []
        elif "type" in hop:
            self.answers.append(str(hop["type"]))
        elif "text" in hop:
            self.answers = str(hop["text"]).split("*")
        return self.post()

    def post(self):
        form = {"sessionId": self.session_id, "serviceCode": "*384*1234#", "phoneNumber": self.caller,
                "networkCode": self.network, "text": "*".join(self.answers)}
        return self.client.post("/ussd", data=form)


@pytest.mark.parametrize("conversation", list(load_conversations()))
def test_golden_conversation(conversation, redis_client):
    service = FakeEscrowService(**conversation.get("service", {}))
    for order in conversation.get("orders", []):
        service.seed(**order)
    caller = conversation.get("caller", "+254711000111")
    if conversation.get("language"):
        service.languages[caller.lstrip("+")] = conversation["language"]
    settings = UssdSettings.from_mapping(conversation.get("settings", {}))
    client = closed_port_client() if conversation.get("store") == "down" else redis_client
    phone = Phone(make_client(service, RedisSessionStore(client, settings.session_ttl), settings), caller,
                  conversation.get("network", "63902"))
    previous_body = None
    for number, hop in enumerate(conversation["hops"], 1):
        if hop.get("flush"):
            redis_client.flushdb()
        response = phone.post() if hop.get("replay") else phone.send(hop)
        body = check_reply(response, f"hop {number}")
        check_hop(hop, body, previous_body, service, f"hop {number}: {body!r}")
        previous_body = body


def check_reply(response, where):
    body = response.get_data(as_text=True)
    assert response.status_code == 200, where
    assert response.mimetype == "text/plain", where
    assert body.startswith(("CON ", "END ")), where
    assert len(body) <= 160 and is_gsm7(body), f"{where}: {body!r}"
    return body


def check_hop(hop, body, previous_body, service, where):
    for text in hop.get("see", []):
        assert str(text) in body[4:], f"{where} lacks {text!r}"
    for text in hop.get("not_see", []):
        assert str(text) not in body[4:], f"{where} shows {text!r}"
    if "end" in hop:
        assert body.startswith("END " if hop["end"] else "CON "), where
    if hop.get("same_as_previous"):
        assert body == previous_body, where
    for name, count in hop.get("calls", {}).items():
        assert service.count(name) == count, f"{where}: {name} called {service.count(name)} times"
