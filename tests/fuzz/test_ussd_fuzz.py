"""Hostile USSD hops against the real app: random and huge text, other scripts' digits, exponents,
`*` storms, missing fields, replays, wrong session ids.

Every hop must get no server error; every screen starts CON/END, fits 160 characters and is GSM-7;
nothing a hop creates holds a number or an amount outside the rules. FUZZ_USSD_HOPS sets the count
(CI 2,000; `bin/soak` 20,000); FUZZ_SEED moves the generator. A failure names the hop's index.
"""
import os
import random
import re

import pytest
from sqlalchemy import select

from escrow.models import Order, Payout
from escrow.reports import ledger_findings
from tests.fuzz.conftest import SEED, USSD_TOKEN
from tests.fuzz.hostile import hostile_form, hostile_phone, hostile_text
from ussd.gsm7 import is_gsm7

pytestmark = pytest.mark.fuzz

HOPS = int(os.environ.get("FUZZ_USSD_HOPS", 2000))
SCREEN_LIMIT = 160
MSISDN = re.compile(r"254[17][0-9]{8}", re.ASCII)


def screen_problems(status: int, body: str) -> list[str]:
    if status >= 500:
        return [f"server error {status}"]
    if status != 200:
        return []
    problems = []
    if not body.startswith(("CON ", "END ")):
        problems.append("does not start with CON/END")
    if len(body) > SCREEN_LIMIT:
        problems.append(f"{len(body)} characters")
    if not is_gsm7(body):
        problems.append(f"not GSM-7: {sorted({ch for ch in body if not is_gsm7(ch)})[:5]}")
    return problems


@pytest.mark.timeout(0 if "FUZZ_USSD_HOPS" in os.environ else 180)
def test_hostile_hops_get_a_clean_screen_and_create_nothing_out_of_rules(target):
    rng = random.Random(SEED)
    client, sent, failures, replays = target.client, [], [], 0
    statuses: dict[int, int] = {}
    for index in range(HOPS):
        roll = rng.random()
        if sent and roll < 0.08:                                   # a replay, byte for byte
            form = rng.choice(sent)
            replays += 1
        elif sent and roll < 0.14:                                 # someone else's text, a new session id
            form = {**rng.choice(sent), "sessionId": f"ATUid_wrong{rng.randrange(10**9)}"}
        else:
            session = rng.choice((f"ATUid_f{index}", f"ATUid_f{index // 5}", f"ATUid_f{index // 3}")) \
                if rng.random() < 0.9 else rng.choice(("", "x" * 300, "\x00", "١٢٣", " "))
            form = hostile_form(rng, session, hostile_phone(rng), hostile_text(rng))
        response = client.post(f"/ussd/{USSD_TOKEN}", data=form)
        body = response.get_data(as_text=True)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        for problem in screen_problems(response.status_code, body):
            failures.append(f"hop {index} (FUZZ_SEED={SEED}): {problem}; form={_short(form)} reply={body[:80]!r}")
        if len(sent) < 500:
            sent.append(form)
    print(f"\nussd fuzz: {HOPS} hops, {replays} replays, statuses {statuses}")
    failures += created_orders_problems(target)
    assert not failures, f"{len(failures)} bad hops:\n" + "\n".join(failures[:30])


def created_orders_problems(target) -> list[str]:
    """Orders the hops created: ASCII Kenyan numbers, amounts in the limits; no money moved."""
    core, problems = target.zemi.core, []
    low, high = core.settings.order_min, core.settings.order_max
    seeded = {ref for refs in target.refs.values() for ref in refs}
    with target.db.transaction() as session:
        for order in session.scalars(select(Order).where(Order.reference.not_in(seeded))):
            for role, sealed in (("buyer", order.buyer_sealed), ("seller", order.seller_sealed)):
                number = core.vault.unseal(sealed)
                if not MSISDN.fullmatch(number):
                    problems.append(f"order {order.reference} has {role} number {number!r}")
            if not (isinstance(order.price, int) and low <= order.price <= high):
                problems.append(f"order {order.reference} has price {order.price!r}")
        violations, _ = ledger_findings(session)
        new_transfers = session.scalar(select(Payout.id).where(Payout.order_id.in_(
            select(Order.id).where(Order.reference.not_in(seeded)))))
    return problems + [f"ledger: {v}" for v in violations] + \
        ([f"a hop created a transfer (payout #{new_transfers})"] if new_transfers else [])


def _short(form: dict) -> str:
    return "{" + ", ".join(f"{k}: {v[:60]!r}{'...(%d)' % len(v) if len(v) > 60 else ''}"
                           for k, v in form.items()) + "}"


KILLERS = ("1e1000000", "-1E+1000000", "1" + "0" * 5000)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("amount", KILLERS, ids=lambda a: a[:12] + (f"...({len(a)})" if len(a) > 12 else ""))
def test_a_pathological_amount_is_refused_without_pinning_a_cpu(target, amount):
    """`int(Decimal('1e1000000'))` runs for tens of seconds (issue 11, finding 5): pytest-timeout
    fails this test if the amount screen does any such expansion."""
    reply, screen = hop(target, f"ATUid_killer{len(amount)}", "+254711000999", f"1*0722000111*{amount}")
    assert reply.startswith(("CON ", "END ")) and screen != "pay.item", f"{amount[:20]!r} accepted: {reply!r}"


SCRIPTS = {"arabic-indic": "٠١٢٣٤٥٦٧٨٩", "fullwidth": "０１２３４５６７８９", "devanagari": "०१२३४५६७८९",
           "bold": "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"}


@pytest.mark.parametrize("script", SCRIPTS, ids=str)
@pytest.mark.parametrize("where, text, refused_on", [
    ("seller number", "1*{0722000111}", "pay.party"),
    ("seller number, one digit", "1*07{2}2000111", "pay.party"),
    ("amount", "1*0722000111*{1500}", "pay.amount"),
    ("delivery code", "4*{480913}", "code.enter"),
    ("menu choice", "{1}", "main"),
])
def test_digits_of_other_scripts_are_never_read_as_numbers(target, script, where, text, refused_on):
    """Only ASCII digits are digits (issue 11, finding 9): `\\d` and int() accept every script's."""
    digits = SCRIPTS[script]
    foreign = re.sub(r"\{([^}]*)\}", lambda m: m.group(1).translate(str.maketrans("0123456789", digits)), text)
    reply, screen = hop(target, f"ATUid_script_{script}_{len(text)}", "+254711000999", foreign)
    assert screen in (refused_on, None) and reply.startswith(("CON ", "END ")), \
        f"{where} in {script} digits ({foreign!r}) was accepted: now on {screen!r}: {reply!r}"


def hop(target, session_id: str, phone: str, text: str) -> tuple[str, str | None]:
    """Dial and type `text` one answer per hop (AT sends the whole history each time);
    (the last reply, the screen it shows)."""
    parts = text.split("*")
    for typed in [""] + ["*".join(parts[:n]) for n in range(1, len(parts) + 1)]:
        response = target.client.post(f"/ussd/{USSD_TOKEN}", data={
            "sessionId": session_id, "serviceCode": "*384*1234#", "phoneNumber": phone, "text": typed})
        assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True), response.headers.get("at-ussd-hop-metadata")
