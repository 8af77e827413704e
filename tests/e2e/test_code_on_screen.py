"""A delivery code that cannot arrive by SMS (Africa's Talking refuses the number: UserInBlacklist, 406)
is shown once on the buyer's own USSD screen, works for release, replaces the old code, and is kept
nowhere in clear: not in Redis, not in any table, not in the logs, not in AT's end-of-session event."""
import logging
import re

import redis
import requests
from sqlalchemy import select

from escrow.models import Base, SmsMessage

from tests.e2e.test_journey import BUYER, SELLER, reference_in, settle

SHOWN = re.compile(r"your new delivery code is (\d{6})\.")


def post(live, session_id: str, phone: str, text: str) -> str:
    response = requests.post(f"{live.base_url}/ussd", data={
        "sessionId": session_id, "serviceCode": "*384*1234#", "phoneNumber": phone,
        "networkCode": "63902", "text": text}, timeout=10)
    assert response.status_code == 200
    return response.text


def option(screen: str, label: str) -> str:
    return re.search(rf"(\d) {label}", screen).group(1)


def everything_in(client) -> str:
    """Every key and value in the Redis database, as text (strings, lists, hashes, sets, sorted sets)."""
    read = {b"string": client.get, b"list": lambda key: client.lrange(key, 0, -1), b"hash": client.hgetall,
            b"set": client.smembers, b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
            b"stream": lambda key: client.xrange(key)}
    return "\n".join(f"{key!r} {read.get(client.type(key), repr)(key)!r}" for key in client.scan_iter("*"))


def in_clear(code: str, text: str) -> bool:
    return re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", text) is not None


def test_a_code_refused_by_sms_is_shown_once_on_the_buyers_screen_and_kept_nowhere(
        live_with_at, simulator, at_double, redis_url, caplog):
    live = live_with_at
    caplog.set_level(logging.DEBUG)
    at_double.fail_number(BUYER, 406)                       # UserInBlacklist: every SMS to the buyer refused
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    with live.zemi.db.transaction() as session:
        code_sms = session.scalars(select(SmsMessage).where(SmsMessage.kind == "code_to_buyer")).one()
        assert (code_sms.status, code_sms.order_id is not None) == ("failed", True)
    old_code = live.delivery_code(BUYER)                    # what the SMS would have said (sealed copy)

    order_screen = live.dial(BUYER, "3", reference)[-1]
    assert "Show a new code here" in order_screen and "Get a new code" not in order_screen
    choice = option(order_screen, "Show a new code here")
    session_id = "ATUid_code_on_screen"
    for typed in ("", "3", f"3*{reference}"):
        post(live, session_id, BUYER, typed)
    shown = post(live, session_id, BUYER, f"3*{reference}*{choice}")
    assert shown.startswith("END ") and "shown once, not sent by SMS" in shown and len(shown) <= 160
    new_code = SHOWN.search(shown).group(1)
    assert new_code != old_code

    replayed = post(live, session_id, BUYER, f"3*{reference}*{choice}")     # the gateway retries the hop
    assert replayed.startswith("END ") and "cannot be shown again" in replayed and new_code not in replayed
    events = requests.post(f"{live.base_url}/ussd/events", data={
        "sessionId": session_id, "phoneNumber": BUYER, "serviceCode": "*384*1234#", "networkCode": "63902",
        "status": "Success", "input": f"3*{reference}*{choice}", "lastAppResponse": shown}, timeout=10)
    assert events.status_code == 200

    again = live.dial(BUYER, "3", reference)[-1]
    assert "Show a new code here" not in again, "the screen code is offered once"

    assert "Wrong code" in live.dial(SELLER, "4", old_code)[-1], "the old code no longer works"
    released = live.dial(SELLER, "2", "4", new_code, "1")[-1]      # 2: start again (not resume)
    assert "Released." in released
    settle(live, simulator)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} paid_out")

    findings = live.zemi.service.open_findings()
    kinds = {finding["kind"] for finding in findings if finding["order"] == reference}
    assert {"code-sms-failed", "code-on-screen"} <= kinds, findings

    kept = everything_in(redis.Redis.from_url(redis_url))
    with live.zemi.db.transaction() as session:
        stored = "\n".join(str(tuple(row)) for table in Base.metadata.sorted_tables
                           for row in session.execute(select(table)))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for where, text in (("Redis", kept), ("the database", stored), ("the logs", logged)):
        assert not in_clear(new_code, text), f"the screen code is in {where}"
    assert "[not kept: it showed a delivery code]" in kept
