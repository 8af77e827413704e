"""Many journeys at once while, at random moments, the worker is SIGKILLed, Redis is kill -9ed or
PostgreSQL crashes (`pg_ctl stop -m immediate`), each then restarted (the counts version).

FAULTS_ORDERS orders (CI: 6) and FAULTS_KILLS faults per phase (CI: 3), of FAULTS_KINDS (default
worker,redis,postgres); `bin/faults --long` runs 60 and 20. FAULTS_SEED repeats the choices (the seed
is printed on failure; timing still varies). After the kills every order has
converged: funded then paid out, or stopped where nobody can know (a push or a payout that never
reached M-Pesa) with no money moved and, for a payout, a finding naming it."""
import os
import random
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy.exc import DBAPIError

from tests.faults.invariants import assert_money_whole
from tests.faults.servers import wait_for

pytestmark = pytest.mark.faults

ORDERS = int(os.environ.get("FAULTS_ORDERS", "6"))
KILLS = int(os.environ.get("FAULTS_KILLS", "3"))
KINDS = os.environ.get("FAULTS_KINDS", "worker,redis,postgres").split(",")


def _kill_worker(stack) -> None:
    stack.kill_worker()
    stack.restart_worker()


def _kill_redis(stack) -> None:
    stack.redis.kill9()
    time.sleep(0.3)
    stack.redis.start()


def _crash_postgres(stack) -> None:
    stack.postgres.crash()
    time.sleep(0.3)
    stack.postgres.start()
    stack.expire_leases()  # leases taken before the crash would run 60 s


FAULTS = {"worker": _kill_worker, "redis": _kill_redis, "postgres": _crash_postgres}


def _kill_at_random(stack, rng: random.Random, kills: int, done: threading.Event, injected: Counter) -> None:
    for _ in range(kills):
        if done.wait(rng.uniform(0.2, 1.5)):
            return
        kind = rng.choice(KINDS)
        FAULTS[kind](stack)
        injected[kind] += 1


def _confirm(stack, seller: str, buyer: str, reference: str) -> None:
    if stack.order_state(reference) != "funded":  # an earlier try went through before its reply was lost
        return
    code = stack.delivery_code(buyer)
    replies = stack.dial(seller, "4", code, "1")
    assert stack.order_state(reference) != "funded", (
        f"order {reference}: the confirmation with code {code} did not go through: {replies}")


def _as_a_person_would(action, *args):
    """A caller whose session broke (Redis or PostgreSQL gone for a moment) dials again."""
    for attempt in range(8):
        try:
            return action(*args)
        except (AssertionError, requests.RequestException, DBAPIError):
            if attempt == 7:
                raise
            time.sleep(1)


def _pay_settled(stack, reference: str) -> bool:
    if stack.postgres_down():
        return False
    if stack.order_state(reference) == "funded":
        return True
    undecided = stack.sql("SELECT a.status FROM payment_attempts a JOIN orders o ON o.id = a.order_id "
                          "WHERE o.reference = :r AND a.status IN ('queued', 'sending')", r=reference)
    return not undecided and not stack.stk_requests_for(reference)


def _payout_settled(stack, reference: str) -> bool:
    if stack.postgres_down():
        return False
    if stack.order_state(reference) == "paid_out":
        return True
    flagged = [f for f in stack.findings() if f.get("order") == reference and f.get("kind") == "payout-unknown"]
    return bool(flagged) and not stack.b2c_requests_for(reference)


def _converge(stack, references, settled, what: str, seed: int) -> None:
    def pending():
        return [r for r in references if not settled(stack, r)]
    try:
        wait_for(lambda: not pending(), 40 + len(references), what, interval=0.5)
    except AssertionError:
        stuck = pending()
        raise AssertionError(f"seed {seed}: {len(stuck)} order(s) never {what}: {stuck}\n"
                             f"{stack.report(stuck[0])}") from None


def test_random_worker_redis_and_postgresql_faults_during_many_journeys_lose_no_money(stack):
    seed = int(os.environ.get("FAULTS_SEED") or random.randrange(10**6))
    rng = random.Random(seed)
    print(f"FAULTS_SEED={seed} FAULTS_ORDERS={ORDERS} FAULTS_KILLS={KILLS} FAULTS_KINDS={','.join(KINDS)}")
    stack.daraja.latency = stack.at.latency = 0.15  # calls stay in flight long enough for kills to land mid-call
    done, injected = threading.Event(), Counter()
    killer = threading.Thread(target=_kill_at_random, args=(stack, rng, KILLS, done, injected))
    killer.start()
    people = [(f"+2547115{n:05d}", f"+2547225{n:05d}") for n in range(ORDERS)]
    references = [_as_a_person_would(stack.place_order, buyer, "0" + seller[4:], rng.randrange(100, 5000))
                  for buyer, seller in people]
    killer.join()
    _converge(stack, references, _pay_settled, "funded (or provably never asked)", seed)
    funded = [(ref, buyer, seller) for ref, (buyer, seller) in zip(references, people)
              if stack.order_state(ref) == "funded"]
    killer = threading.Thread(target=_kill_at_random, args=(stack, rng, KILLS, done, injected))
    killer.start()
    for reference, buyer, seller in funded:
        _as_a_person_would(_confirm, stack, seller, buyer, reference)
    killer.join()
    _converge(stack, [ref for ref, _, _ in funded], _payout_settled, "paid out (or flagged unknown)", seed)
    assert funded, f"seed {seed}: no order was funded at all"
    assert_money_whole(stack, *references)
    paid = sum(stack.order_state(ref) == "paid_out" for ref, _, _ in funded)
    (again,), = stack.sql("SELECT count(*) FROM outbox WHERE attempts > 1")
    print(f"\nrandom faults, seed {seed}: {len(references)} orders, {KILLS} faults per phase "
          f"({', '.join(f'{n} {kind}' for kind, n in sorted(injected.items()))}); "
          f"{len(funded)} funded, {len(references) - len(funded)} stopped before M-Pesa was asked; "
          f"{paid} paid out, {len(funded) - paid} payouts flagged unknown; {again} outbox items taken again "
          f"after a kill; ledger OK, money whole")
