"""How many hops (requests, the dial included) each USSD journey takes: docs/wording.md's table.

    .venv/bin/python -m bench.journey_hops [TREE] [REDIS_URL]

Drives a tree's own USSD blueprint and FakeEscrowService (TREE: this checkout by default; an older
commit unpacked with `git archive <commit> | tar -x -C /tmp/old` for "before") over REDIS_URL (the
database is flushed: give one of your own), as Africa's Talking would. An answer "@A|B" picks the
option labelled A (or B) on the current screen, so a journey reads the same on both trees; a journey
a tree cannot complete counts as None. tests/integration/test_journey_hops.py holds today's counts."""
import itertools
import json
import re
import sys

if __name__ == "__main__" and len(sys.argv) > 1:
    sys.path.insert(0, sys.argv[1])

import redis  # noqa: E402
from flask import Flask  # noqa: E402
from tests.fakes.escrow_service import FakeEscrowService  # noqa: E402
from ussd.routes import make_ussd_blueprint  # noqa: E402
from ussd.session_store import RedisSessionStore  # noqa: E402
from ussd.settings import UssdSettings  # noqa: E402

BUYER, SELLER = "+254711000111", "+254722000222"
ids = itertools.count(1)

def seed(service, **order):
    try:
        return service.seed(**order)
    except TypeError:   # the older fake knows no "accepted"/"code_sms"
        order.pop("accepted", None); order.pop("code_sms", None)
        return service.seed(**order)

def run(R, caller, dial, answers, until, orders=(), language="en", network="63902"):
    R.flushdb()
    service = FakeEscrowService()
    for order in orders:
        seed(service, **order)
    if language:
        service.languages[caller.lstrip("+")] = language
    settings = UssdSettings.from_mapping({})
    app = Flask(__name__)
    app.register_blueprint(make_ussd_blueprint(service, RedisSessionStore(R, settings.session_ttl), settings))
    client = app.test_client()
    session, typed, hops, body = f"ATUid_h{next(ids)}", dial.split("*") if dial else [], 0, ""
    for answer in [None] + list(answers):
        if answer is not None:
            if answer.startswith("@"):
                found = [re.search(rf"(\d+) {re.escape(label)}", body) for label in answer[1:].split("|")]
                found = [f for f in found if f]
                if not found:
                    return None, body
                answer = found[0].group(1)
            typed.append(answer)
        body = client.post("/ussd", data={"sessionId": session, "serviceCode": "*384*1234#", "phoneNumber": caller,
                                          "networkCode": network, "text": "*".join(typed)}).get_data(as_text=True)
        hops += 1
        if re.search(until, body):
            return hops, body
        if body.startswith("END "):
            return None, body
    return None, body

FUNDED = dict(reference="40000106", buyer=BUYER, seller=SELLER, price=1500, item="Kitenge", state="funded", code="123456")
JOURNEYS = [
    ("Pay a seller (create an order)", BUYER, "", ["1", "0722000222", "1500", "Kitenge", "1"], r"Order \d+ created", [], {}),
    ("A first-time caller pays a seller (the privacy line is said on the way)", BUYER, "", ["1", "0722000222", "1500", "Kitenge", "1"], r"Order \d+ created", [], {"language": None}),
    ("Pay a seller whose number is outside Safaricom's ranges", BUYER, "", ["1", "0733000333", "@Yes, continue", "1500", "Kitenge", "1"], r"Order \d+ created", [], {}),
    ("Pay a seller from an Airtel line (told to use Paybill)", BUYER, "", ["1", "0722000222", "1500", "Kitenge", "1"], r"Order \d+ created", [], {"network": "63903"}),
    ("Request a payment", SELLER, "", ["2", "0711000111", "1500", "Kitenge", "1"], r"Request \d+ sent", [], {}),
    ("Buyer accepts a request and pays", BUYER, "", ["3", "1", "@Accept and pay"], r"Accepted", [dict(reference="40000106", buyer=BUYER, seller=SELLER, price=1500, item="Kitenge", requested=True)], {}),
    ("Buyer pays an unpaid order again", BUYER, "", ["3", "1", "@Pay now"], r"M-Pesa prompt", [dict(reference="40000106", buyer=BUYER, seller=SELLER, price=1500, item="Kitenge")], {}),
    ("Seller accepts a paid order", SELLER, "", ["3", "1", "@Accept order"], r"accepted", [FUNDED], {}),
    ("Seller marks an order sent", SELLER, "", ["3", "1", "@Mark as sent"], r"marked as sent", [{**FUNDED, "accepted": True}], {}),
    ("Seller enters the delivery code (release)", SELLER, "", ["4", "123456", "1"], r"Released", [{**FUNDED, "accepted": True}], {}),
    ("Seller enters the code dialled straight in (*384*1234*4*code#)", SELLER, "4*123456", ["1"], r"Released", [{**FUNDED, "accepted": True}], {}),
    ("Buyer enters the code (seller accepted)", BUYER, "", ["4", "123456", "1"], r"Released", [{**FUNDED, "accepted": True}], {}),
    ("Buyer reports a problem", BUYER, "", ["3", "1", "@Report a problem", "1"], r"eported", [{**FUNDED, "accepted": True}], {}),
    ("Buyer cancels an unpaid order", BUYER, "", ["3", "1", "@Cancel order|Cancel", "1"], r"cancelled", [dict(reference="40000106", buyer=BUYER, seller=SELLER, price=1500, item="Kitenge")], {}),
    ("Buyer gets a new code by SMS", BUYER, "", ["3", "1", "@Get a new code"], r"new code was sent", [{**FUNDED, "accepted": True}], {}),
    ("Buyer reads a new code on screen (SMS failed)", BUYER, "", ["3", "1", "@Show a new code here"], r"new delivery code is", [{**FUNDED, "accepted": True, "code_sms": "failed"}], {}),
    ("Open one order to read its state", BUYER, "", ["3", "1"], r"40000106 Kitenge\n", [FUNDED], {}),
    ("Open one order dialled straight in (*384*1234*3*ref#)", BUYER, "3*40000106", [], r"40000106 Kitenge\n", [FUNDED], {}),
    ("Read the fees and Paybill (Help)", BUYER, "", ["6", "@Fees and Paybill"], r"Paybill 600100", [], {}),
    ("Switch to Kiswahili", BUYER, "", ["5", "2"], r"Lipa muuzaji", [], {}),
    ("A first-time caller switches to Kiswahili", BUYER, "", ["5", "2"], r"Lipa muuzaji", [], {"language": None}),
]


def count_hops(client) -> dict:
    """{journey: hops, or None when the tree cannot complete it}."""
    return {name: run(client, caller, dial, answers, until, orders, **extra)[0]
            for name, caller, dial, answers, until, orders, extra in JOURNEYS}


if __name__ == "__main__":
    url = sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/4"
    print(json.dumps(count_hops(redis.Redis.from_url(url)), indent=1))
