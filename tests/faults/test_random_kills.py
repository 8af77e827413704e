"""Many journeys at once while the worker is SIGKILLed at random moments (the counts version).

FAULTS_ORDERS orders (CI: 6) and FAULTS_KILLS kills per phase (CI: 3); `bin/faults --long` runs 60 and
20. FAULTS_SEED repeats a run (the seed is printed on failure). After the kills every order has
converged: funded then paid out, or stopped where nobody can know (a push or a payout that never
reached M-Pesa) with no money moved and, for a payout, a finding naming it."""
import os
import random
import threading

import pytest

from tests.faults.invariants import assert_money_whole
from tests.faults.servers import wait_for

pytestmark = pytest.mark.faults

ORDERS = int(os.environ.get("FAULTS_ORDERS", "6"))
KILLS = int(os.environ.get("FAULTS_KILLS", "3"))


def _kill_at_random(stack, rng: random.Random, kills: int, done: threading.Event) -> None:
    for _ in range(kills):
        if done.wait(rng.uniform(0.2, 1.5)):
            return
        stack.kill_worker()
        stack.restart_worker()


def _pay_settled(stack, reference: str) -> bool:
    if stack.order_state(reference) == "funded":
        return True
    undecided = stack.sql("SELECT a.status FROM payment_attempts a JOIN orders o ON o.id = a.order_id "
                          "WHERE o.reference = :r AND a.status IN ('queued', 'sending')", r=reference)
    return not undecided and not stack.stk_requests_for(reference)


def _payout_settled(stack, reference: str) -> bool:
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


def test_random_worker_kills_during_many_journeys_lose_no_money(stack):
    seed = int(os.environ.get("FAULTS_SEED") or random.randrange(10**6))
    rng = random.Random(seed)
    stack.daraja.latency = stack.at.latency = 0.15  # calls stay in flight long enough for kills to land mid-call
    done = threading.Event()
    killer = threading.Thread(target=_kill_at_random, args=(stack, rng, KILLS, done))
    killer.start()
    people = [(f"+2547115{n:05d}", f"+2547225{n:05d}") for n in range(ORDERS)]
    references = [stack.place_order(buyer, "0" + seller[4:], rng.randrange(100, 5000)) for buyer, seller in people]
    killer.join()
    _converge(stack, references, _pay_settled, "funded (or provably never asked)", seed)
    funded = [(ref, buyer, seller) for ref, (buyer, seller) in zip(references, people)
              if stack.order_state(ref) == "funded"]
    done.clear()
    killer = threading.Thread(target=_kill_at_random, args=(stack, rng, KILLS, done))
    killer.start()
    for reference, buyer, seller in funded:
        stack.confirm_delivery(seller, buyer, reference)
    killer.join()
    _converge(stack, [ref for ref, _, _ in funded], _payout_settled, "paid out (or flagged unknown)", seed)
    assert funded, f"seed {seed}: no order was funded at all"
    assert_money_whole(stack, *references)
    paid = sum(stack.order_state(ref) == "paid_out" for ref, _, _ in funded)
    (again,), = stack.sql("SELECT count(*) FROM outbox WHERE attempts > 1")
    print(f"\nrandom kills, seed {seed}: {len(references)} orders, {KILLS} worker kills per phase; "
          f"{len(funded)} funded, {len(references) - len(funded)} stopped before M-Pesa was asked; "
          f"{paid} paid out, {len(funded) - paid} payouts flagged unknown; {again} outbox items taken again "
          f"after a kill; ledger OK, money whole")
