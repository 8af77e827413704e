"""The USSD routes around the flow: who may call, what is kept in Redis, what is logged."""
import logging

import pytest
from flask import Flask

from tests.fakes.escrow_service import FakeEscrowService
from ussd.routes import make_ussd_blueprint
from ussd.errors import StoreUnavailable
from ussd.session_store import RedisSessionStore
from ussd.settings import UssdSettings

CALLER = "+254722000222"
CODE = "480913"


def client_for(service, store, env=None, recorder=None):
    app = Flask(__name__)
    app.register_blueprint(make_ussd_blueprint(service, store, UssdSettings.from_mapping(env or {}),
                                               recorder=recorder))
    return app.test_client()


def form(text, session="ATUid_r1", phone=CALLER):
    return {"sessionId": session, "serviceCode": "*384*1234#", "phoneNumber": phone,
            "networkCode": "63902", "text": text}


@pytest.fixture
def service():
    fake = FakeEscrowService()
    fake.seed(reference="40000901", buyer="+254711000111", seller=CALLER, price=2500, item="Radio",
              state="funded", code=CODE)
    return fake


@pytest.fixture
def store(redis_client):
    return RedisSessionStore(redis_client, ttl_seconds=300)


def test_with_a_path_token_only_the_token_path_answers(service, store):
    client = client_for(service, store, {"USSD_PATH_TOKEN": "s3cret"})
    assert client.post("/ussd", data=form("")).status_code == 404
    assert client.post("/ussd/wrong", data=form("")).status_code == 404
    assert client.post("/ussd/s3cret", data=form("")).get_data(as_text=True).startswith("CON ")


def test_without_a_path_token_a_token_path_is_not_found(service, store):
    assert client_for(service, store).post("/ussd/anything", data=form("")).status_code == 404


def test_a_caller_outside_the_allowed_addresses_is_refused(service, store):
    client = client_for(service, store, {"USSD_ALLOWED_IPS": "196.201.214.0/24"})
    assert client.post("/ussd", data=form(""), environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 403
    ok = client.post("/ussd", data=form(""), environ_base={"REMOTE_ADDR": "196.201.214.7"})
    assert ok.status_code == 200


def test_behind_a_trusted_proxy_the_last_forwarded_hop_is_checked(service, store):
    env = {"USSD_ALLOWED_IPS": "196.201.214.7", "TRUST_PROXY": "1"}
    client = client_for(service, store, env)
    forged = {"X-Forwarded-For": "196.201.214.7, 6.6.6.6"}
    real = {"X-Forwarded-For": "6.6.6.6, 196.201.214.7"}
    assert client.post("/ussd", data=form(""), headers=forged).status_code == 403
    assert client.post("/ussd", data=form(""), headers=real).status_code == 200


def test_a_forwarded_header_is_ignored_unless_the_proxy_is_trusted(service, store):
    client = client_for(service, store, {"USSD_ALLOWED_IPS": "196.201.214.7"})
    headers = {"X-Forwarded-For": "196.201.214.7"}
    assert client.post("/ussd", data=form(""), headers=headers).status_code == 403


def test_a_request_without_session_or_number_is_rejected(service, store):
    client = client_for(service, store)
    assert client.post("/ussd", data={"text": ""}).status_code == 400


def test_replies_carry_the_screen_name_as_hop_metadata(service, store):
    response = client_for(service, store).post("/ussd", data=form(""))
    assert response.headers["at-ussd-hop-metadata"] == "main"


def walk_to_code_confirmation(client):
    for text in ("", "4", f"4*{CODE}"):
        body = client.post("/ussd", data=form(text)).get_data(as_text=True)
    return body


def test_the_delivery_code_is_never_stored_in_redis(service, store, redis_client):
    client = client_for(service, store)
    assert "Release the money" in walk_to_code_confirmation(client)
    client.post("/ussd", data=form(f"4*{CODE}*1"))
    for key in redis_client.keys("*"):
        kind = redis_client.type(key).decode()
        values = ([redis_client.get(key)] if kind == "string" else redis_client.zrange(key, 0, -1) if kind == "zset"
                  else redis_client.lrange(key, 0, -1))
        assert all(CODE.encode() not in (value or b"") for value in values), key


def test_phone_numbers_are_not_used_as_redis_keys(service, store, redis_client):
    client = client_for(service, store)
    client.post("/ussd", data=form(""))
    client.post("/ussd", data=form("1"))
    keys = b" ".join(redis_client.keys("*")).decode()
    assert "zemi:ussd:resume:" in keys
    assert "722000222" not in keys


def test_raw_text_and_numbers_are_never_logged(service, store, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(service, store)
    walk_to_code_confirmation(client)
    client.post("/ussd", data=form(f"4*{CODE}*1"))
    assert "ussd hop screen=code.confirm" in caplog.text
    assert CODE not in caplog.text and "722000222" not in caplog.text


def test_per_hop_timings_are_kept_in_the_session(service, store):
    client = client_for(service, store)
    walk_to_code_confirmation(client)
    hops = store.load("ATUid_r1")["hops"]
    assert [hop["screen"] for hop in hops] == ["main", "code.enter", "code.confirm"]
    assert all(isinstance(hop["ms"], int) for hop in hops)


def test_a_second_session_cannot_reuse_the_release(service, store):
    client = client_for(service, store)
    walk_to_code_confirmation(client)
    assert client.post("/ussd", data=form(f"4*{CODE}*1")).get_data(as_text=True).startswith("END Released")
    again = [client.post("/ussd", data=form(text, session="ATUid_r2")) for text in ("", "4", f"4*{CODE}")]
    assert "Wrong code" in again[-1].get_data(as_text=True)
    assert service.count("confirm_delivery") == 1


def end_of_session_event():
    return {"date": "2025-09-29 12:00:00", "sessionId": "ATUid_r1", "serviceCode": "*384*1234#",
            "networkCode": "63902", "phoneNumber": CALLER, "status": "Success", "cost": "KES 0.10",
            "durationInMillis": "12345", "hopsCount": "3", "hopsMetadata": "main|code.enter|code.confirm",
            "input": f"4*{CODE}*1", "lastAppResponse": "END Released.", "errorMessage": ""}


def test_end_of_session_events_are_recorded_without_input_or_full_number(service, store):
    client = client_for(service, store)
    walk_to_code_confirmation(client)
    response = client.post("/ussd/events", data=end_of_session_event())
    assert response.status_code == 200 and response.get_data(as_text=True) == "OK"
    [event] = store.events()
    assert event["status"] == "Success" and event["hopsCount"] == "3" and event["phone"] == "0722***222"
    assert event["inputs"] == 3 and "input" not in event and CODE not in str(event)
    assert [hop["screen"] for hop in event["app_hops"]] == ["main", "code.enter", "code.confirm"]


def test_events_go_to_an_injected_recorder_when_given(service, store):
    seen = []
    client = client_for(service, store, {"USSD_PATH_TOKEN": "t0k"}, recorder=seen.append)
    assert client.post("/ussd/t0k/events", data=end_of_session_event()).status_code == 200
    assert seen[0]["sessionId"] == "ATUid_r1"


def test_an_event_that_cannot_be_recorded_is_still_acknowledged(service, store):
    def broken(event):
        raise RuntimeError("down")
    client = client_for(service, store, recorder=broken)
    assert client.post("/ussd/events", data=end_of_session_event()).get_data(as_text=True) == "OK"


def test_an_unexpected_failure_in_the_core_is_a_polite_end(service, store, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("database gone")
    client = client_for(service, store)
    client.post("/ussd", data=form(""))
    monkeypatch.setattr(service, "help_info", crash)
    client.post("/ussd", data=form("6"))
    response = client.post("/ussd", data=form("6*1"))   # Help, then Fees and Paybill
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "END Sorry, the service is busy. Please dial again in a moment."


def test_a_store_built_from_settings_keys_digests_with_the_secret(redis_client):
    settings = UssdSettings.from_mapping({"SECRET_KEY": "k1", "USSD_RESUME_TTL": "120"})
    keyed = RedisSessionStore.from_settings(redis_client, settings)
    plain = RedisSessionStore(redis_client)
    assert keyed.resume_ttl == 120 and keyed.digest("1*2") != plain.digest("1*2")
    assert keyed.phone_key("+254722000222") == keyed.phone_key("0722000222")


def test_a_session_lock_is_released_only_by_its_holder(redis_client):
    """Once our lock has expired and another hop holds it, our release must leave theirs alone."""
    store = RedisSessionStore(redis_client)
    for commit in (False, True):
        with store.hop("ATUid_lock", CALLER, dialled=False, hold_seconds=1) as opened:
            redis_client.set(opened.lock_key, "someone-else")  # as if ours expired and a later hop took it
            if commit:
                opened.commit()
        assert redis_client.get(opened.lock_key) == b"someone-else"
        redis_client.delete(opened.lock_key)


def test_a_hop_releases_its_lock_whether_or_not_it_commits(redis_client):
    store = RedisSessionStore(redis_client)
    with store.hop("ATUid_lock", CALLER, dialled=False) as opened:
        assert redis_client.get(opened.lock_key) == opened.token.encode()
    assert redis_client.get(opened.lock_key) is None
    with pytest.raises(KeyError):
        with store.hop("ATUid_lock", CALLER, dialled=False) as opened:
            raise KeyError("a failing step")
    assert redis_client.get(opened.lock_key) is None


def test_a_second_copy_of_a_hop_waits_for_the_lock_then_reports_busy(redis_client):
    store = RedisSessionStore(redis_client)
    with store.hop("ATUid_lock", CALLER, dialled=False):
        with pytest.raises(StoreUnavailable):
            with store.hop("ATUid_lock", CALLER, dialled=False, wait_seconds=0.2):
                pass


def test_the_language_chosen_on_ussd_is_remembered_in_redis_for_the_next_dial(service, store, redis_client):
    client = client_for(service, store)
    client.post("/ussd", data=form(""))
    client.post("/ussd", data=form("5"))
    assert "Lugha: Kiswahili" in client.post("/ussd", data=form("5*2")).get_data(as_text=True)
    service.languages.clear()  # the core now says English: only Redis remembers Kiswahili
    reply = client.post("/ussd", data=form("", session="ATUid_r2")).get_data(as_text=True)
    assert reply.startswith("CON ") and "1 Lipa muuzaji" in reply
    keys = [key.decode() for key in redis_client.keys("zemi:ussd:lang:*")]
    assert len(keys) == 1 and CALLER not in keys[0] and "722000222" not in keys[0]


def test_a_database_failure_is_logged_with_its_driver_error_and_sqlstate_not_its_message(
        service, store, monkeypatch, caplog):
    import psycopg
    from sqlalchemy.exc import OperationalError

    def refused(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("terminating +254711000101"))
    client = client_for(service, store)
    client.post("/ussd", data=form(""))
    monkeypatch.setattr(service, "help_info", refused)
    client.post("/ussd", data=form("6"))
    with caplog.at_level("ERROR", logger="ussd"):
        response = client.post("/ussd", data=form("6*1"))
    assert response.get_data(as_text=True) == "END Sorry, the service is busy. Please dial again in a moment."
    [line] = [record.getMessage() for record in caplog.records
              if record.name == "ussd" and record.levelname == "ERROR"]
    assert line == "ussd hop failed: OperationalError (AdminShutdown, SQLSTATE 57P01)"
