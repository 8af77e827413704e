"""Malformed, forged and mismatched bodies to every callback endpoint of the real app.

For every post: no server error; with the right token, the body is stored (a row in
inbound_callbacks, or the durable journal) and, once the worker's callback step has run, no stored
row is left unprocessed ('received');
afterwards nothing forged has moved money: the ledger, the transfers, the B2C outbox and every
order's state are exactly as before. The app runs as in live mode (MPESA_CONFIRM_WITH_QUERY=always):
money in is believed only once M-Pesa confirms it. FUZZ_CALLBACK_BODIES sets the count
(CI 500; `bin/soak` 5,000); FUZZ_SEED moves the generator; a failure names the post's index.
"""
import json
import os
import random
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from escrow.models import InboundCallback, Payout
from mpesa import simulator_scenarios as daraja
from tests.fuzz.conftest import SEED, TOKEN, build_target
from tests.fuzz.hostile import HUGE_AMOUNTS, LONG_STRINGS, deep, dump, mutate, random_unicode, raw_body

pytestmark = pytest.mark.fuzz

BODIES = int(os.environ.get("FUZZ_CALLBACK_BODIES", 500))
JSON_ROUTES = ("stk", "b2c/result", "b2c/timeout", "b2c/status", "c2b/validation", "c2b/confirmation")
SIGNED_ROUTES = ("c2b/status", "c2b/status-timeout", "reversal/result", "reversal/status", "reversal/timeout")
FORM_ROUTES = ("sms/delivery", "sms/inbound")
OUR_OWN_ROWS = ("finding", "sms_inbound_done")


@pytest.fixture
def live_like(database_url, redis_url, tmp_path, monkeypatch):
    built = build_target(database_url, redis_url, str(tmp_path / "instance"), confirm="always")
    yield built
    built.zemi.db.dispose()


@pytest.mark.timeout(0 if "FUZZ_CALLBACK_BODIES" in os.environ else 240)
def test_hostile_callbacks_are_stored_answered_and_move_no_money(live_like):
    target, rng = live_like, random.Random(SEED)
    before = target.money_snapshot()
    failures, statuses = [], {}
    for index in range(BODIES):
        path, body, content_type, what = hostile_post(rng, target)
        last_id = newest_row(target)
        response = target.client.post(path, data=body, content_type=content_type)
        apply_stored(target)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        failures += [f"post {index} (FUZZ_SEED={SEED}) {what} to {path.replace(TOKEN, '<token>')[:70]}: {problem}; "
                     f"body {body[:80]!r}" for problem in post_problems(target, response, last_id, path)]
    after = target.money_snapshot()
    print(f"\ncallback fuzz: {BODIES} posts, statuses {statuses}")
    for name in before:
        if before[name] != after[name]:
            changed = ({ref: (before[name].get(ref), state) for ref, state in after[name].items()
                        if before[name].get(ref) != state} if name == "states" else (before[name], after[name]))
            failures.append(f"money moved: {name} changed {changed}")
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:30])


def newest_row(target) -> int:
    with target.db.transaction() as session:
        return session.scalar(select(func.coalesce(func.max(InboundCallback.id), 0)))


def post_problems(target, response, last_id: int, path: str) -> list[str]:
    if response.status_code >= 500:
        return [f"server error {response.status_code}"]
    with target.db.transaction() as session:
        rows = session.execute(select(InboundCallback.source, InboundCallback.status).where(
            InboundCallback.id > last_id, InboundCallback.source.not_in(OUR_OWN_ROWS))).all()
    stored_elsewhere = journal_size(target) > 0
    if f"/{TOKEN}" not in path or response.status_code in (404, 413):
        return ["a body with a wrong token was stored"] if rows and f"/{TOKEN}" not in path else []
    problems = [] if rows or stored_elsewhere else [f"answered {response.status_code} but the body was not stored"]
    problems += [f"{source} row left '{status}'" for source, status in rows if status == "received"]
    return problems


def apply_stored(target) -> int:
    """The worker pass's callback step: applies what the STK route only stored (CALLBACK_APPLY=worker,
    the default); the other routes apply before answering."""
    return target.zemi.service.intake.apply_waiting()


def journal_size(target) -> int:
    folder = target.zemi.settings.get("CALLBACK_JOURNAL_DIR")
    if not folder or not os.path.isdir(folder):
        return 0
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder))


# --- the posts ----------------------------------------------------------------------------------------
def hostile_post(rng: random.Random, target) -> tuple[str, bytes, str, str]:
    roll = rng.random()
    if roll < 0.08:
        route = rng.choice(FORM_ROUTES)
        return hook(route), sms_form(rng), "application/x-www-form-urlencoded", "sms form"
    route = rng.choice(JSON_ROUTES + SIGNED_ROUTES)
    path = hook(route) if route in JSON_ROUTES else f"{hook(route)}/{rng.randint(1, 50)}/{rng.choice(TAGS)}"
    if route == "stk" and rng.random() < 0.3:
        path += f"/a{rng.choice((1, 2, 3, 7, 99999, 2147483647))}"
    if roll < 0.30:
        return path, raw_body(rng), rng.choice(("application/json", "text/plain", "")), "raw bytes"
    if roll < 0.62:
        return path, dump(mutate(rng, template(rng, route, target))), "application/json", "mutated"
    if roll < 0.82:
        return path, dump(forged(rng, route, target)), "application/json", "forged"
    if roll < 0.92:
        other = rng.choice(JSON_ROUTES)
        return path, dump(template(rng, other, target)), "application/json", f"{other} body (mismatched)"
    if roll < 0.96:
        return hook(route).replace(TOKEN, rng.choice(("wrong", TOKEN[:-1], TOKEN + "x", "%00"))), \
            dump(template(rng, route, target)), "application/json", "wrong token"
    return path, oversized(rng), "application/json", "oversized"


TAGS = ("x", "0" * 64, "abc123", "%00", "a" * 200)


def hook(route: str) -> str:
    return f"/hooks/{route}/{TOKEN}"


def oversized(rng: random.Random) -> bytes:
    return rng.choice((lambda: b'{"a": "' + b"x" * 2_000_000 + b'"}', lambda: deep(200_000)))()


def sms_form(rng: random.Random) -> bytes:
    from urllib.parse import urlencode
    fields = {"id": random_unicode(rng, 10), "status": rng.choice(("Success", "Failed", "Rejected", "\x00", "")),
              "phoneNumber": rng.choice(("+254711000001", "+254٧١١٠٠٠٠٠١", "", "x" * 500)),
              "networkCode": "63902", "failureReason": random_unicode(rng, 30), "from": "+254711000001",
              "to": "22384", "text": random_unicode(rng, rng.choice((5, 500))), "date": "2026-01-01 10:00:00",
              "linkId": random_unicode(rng, 8)}
    keep = {k: v for k, v in fields.items() if rng.random() < 0.8}
    encoded = urlencode(keep).encode()
    return encoded + (b"&text=%00%ff" if rng.random() < 0.2 else b"")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")


def template(rng: random.Random, route: str, target) -> dict:
    """A well-formed body for the route, aimed at our own orders and transfers."""
    checkout, amount, reference = rng.choice(target.checkouts) if target.checkouts else ("ws_CO_X", 500, "X")
    originator = f"ZUNKNOWN{rng.randrange(10**6)}"   # never a live transfer: see the module docstring
    if route == "stk":
        paid = rng.random() < 0.7
        return daraja.stk_callback({"merchant_request_id": "m-1", "checkout_request_id": checkout,
                                    "result_code": 0 if paid else 1032, "result_desc": "x", "amount": amount,
                                    "receipt": f"FZ{rng.randrange(10**8):08d}", "phone": "254711000001",
                                    "transaction_date": _now()})
    payout = {"originator_conversation_id": originator, "conversation_id": f"AG_{rng.randrange(10**6)}",
              "result_code": 0, "result_desc": "ok", "receipt": f"FB{rng.randrange(10**8):08d}", "amount": 500,
              "phone": "254711000001", "completed_at": datetime.now(timezone.utc), "party_a": "600000",
              "status": "Completed"}
    if route == "b2c/result":
        return daraja.b2c_result(payout)
    if route == "b2c/timeout":
        return daraja.b2c_queue_timeout(payout)
    if route in ("c2b/validation", "c2b/confirmation"):
        reference = rng.choice([r for refs in target.refs.values() for r in refs] or ["X"])
        return daraja.c2b_body({"transaction_type": "Pay Bill", "trans_id": f"FC{rng.randrange(10**8):08d}",
                                "trans_time": _now(), "amount": amount, "shortcode": "174379",
                                "bill_ref_number": reference, "balance": 0, "msisdn": "2547 ***  123"},
                               confirmation=route.endswith("confirmation"))
    query = {"originator_conversation_id": "Q1", "conversation_id": "AG_Q1", "transaction_id": "OAK0000000"}
    return daraja.transaction_status_result(query, payout)


def forged(rng: random.Random, route: str, target) -> dict:
    """Well-formed claims that money moved, with amounts and ids chosen to hurt."""
    body = template(rng, route, target)
    amount = rng.choice(HUGE_AMOUNTS + (1, 49, 250_001, 499, 501))
    text = json.dumps(body)
    if rng.random() < 0.5:
        for key in ("TransAmount", "Amount", "TransactionAmount"):
            text = text.replace(f'"{key}": ', f'"{key}": {json.dumps(amount)}, "_was": ', 1)
    if rng.random() < 0.3:
        text = text.replace('"ResultCode": 1032', '"ResultCode": 0')
    try:
        body = json.loads(text)
    except ValueError:
        pass
    if rng.random() < 0.3:
        body = {"Body": body} if rng.random() < 0.5 else [body]
    if rng.random() < 0.2:
        try:
            body = json.loads(json.dumps(body).replace("FZ", json.dumps(rng.choice(LONG_STRINGS))[1:-1]))
        except ValueError:
            pass
    return body


def test_the_money_check_sees_a_forged_success_where_nothing_confirms_it(database_url, redis_url, tmp_path):
    """Control: with confirmation off (the local simulator's choice), a forged STK success funds an
    order, and the snapshot the fuzzer compares says so."""
    target = build_target(database_url, redis_url, str(tmp_path / "instance"), confirm="never")
    try:
        before = target.money_snapshot()
        checkout, amount, _ = target.checkouts[0]
        body = daraja.stk_callback({"merchant_request_id": "m", "checkout_request_id": checkout, "result_code": 0,
                                    "result_desc": "ok", "amount": amount, "receipt": "FORGED0001",
                                    "phone": "254711000001", "transaction_date": _now()})
        assert target.client.post(hook("stk"), json=body).status_code == 200
        assert apply_stored(target) == 1
        assert target.money_snapshot() != before
    finally:
        target.zemi.db.dispose()


def test_a_forged_b2c_success_does_not_settle_a_transfer_mpesa_never_made(live_like):
    """Whoever holds the callback token could post a success for a refund or payout in flight: it
    was marked succeeded and the order refunded/paid_out, while M-Pesa never paid the buyer or seller.
    Only an answer at the transfer's own tagged URL is believed; at the untagged path it settles
    nothing (its transfer is asked about with Transaction Status instead: escrow/transfer_answers.py)."""
    target = live_like
    with target.db.transaction() as session:
        payout = session.scalars(select(Payout).where(Payout.status == "sent")).first()
        originator, amount = payout.originator_conversation_id, payout.amount
    body = daraja.b2c_result({"originator_conversation_id": originator, "conversation_id": "AG_FORGED",
                              "result_code": 0, "result_desc": "ok", "receipt": "FORGEDB2C1", "amount": amount,
                              "phone": "254711000001", "completed_at": datetime.now(timezone.utc)})
    before = target.money_snapshot()
    assert target.client.post(hook("b2c/result"), json=body).status_code == 200
    assert target.money_snapshot() == before
