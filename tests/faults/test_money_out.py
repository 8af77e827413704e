"""Faults on the way out: the B2C request, Daraja's answer, the result callback (I7, I8, O1, F1, F2;
issue 11 finding 2). M-Pesa (the simulator) must receive one B2C request per payout, whatever dies."""
import signal

import pytest

from tests.faults.invariants import assert_money_whole, assert_one_transfer
from tests.faults.servers import wait_for
from tests.faults.stack import B2C_PATH

pytestmark = pytest.mark.faults

BUYER, SELLER, SELLER_LOCAL = "+254711000303", "+254722000404", "0722000404"


def funded_order(stack) -> str:
    reference = stack.place_order(BUYER, SELLER_LOCAL, 2000)
    stack.wait_for_state(reference, "funded")
    return reference


def payout_status(stack) -> str | None:
    rows = stack.sql("SELECT status FROM payouts ORDER BY id")
    return rows[-1][0] if rows else None


def _payout_item_tried(stack) -> bool:
    rows = stack.sql("SELECT attempts, leased_until, status FROM outbox WHERE kind = 'b2c_payout'")
    return bool(rows) and all(a >= 1 and (leased is None or status != "pending") for a, leased, status in rows)


def test_a_payout_that_reached_mpesa_before_the_worker_died_is_settled_by_query_not_sent_again(stack):
    """I7 (b): the B2C request reached M-Pesa, the worker died before hearing back."""
    reference = funded_order(stack)
    request = stack.daraja.hold(B2C_PATH, phase="request")
    stack.confirm_delivery(SELLER, BUYER, reference)
    assert request.arrived.wait(20), "the worker never sent the payout"
    stack.kill_worker()
    request.release()
    wait_for(lambda: stack.b2c_requests_for(reference), 10, "M-Pesa to receive the B2C request")
    stack.restart_worker()
    stack.wait_for_state(reference, "paid_out")
    assert_one_transfer(stack, reference)
    assert_money_whole(stack, reference)


def test_a_payout_answer_lost_between_daraja_and_our_commit_is_settled_not_sent_again(stack):
    """I7 (b): M-Pesa accepted the payout; its answer is lost with the worker, before our commit."""
    reference = funded_order(stack)
    answer = stack.daraja.hold(B2C_PATH, phase="reply")
    stack.confirm_delivery(SELLER, BUYER, reference)
    assert answer.arrived.wait(20), "M-Pesa never answered the payout"
    stack.kill_worker()
    answer.drop()
    stack.restart_worker()
    stack.wait_for_state(reference, "paid_out")
    assert_one_transfer(stack, reference)
    assert_money_whole(stack, reference)


def test_a_payout_lost_on_the_way_when_the_worker_died_becomes_a_finding_and_is_never_resent(stack):
    """I7 (a)/I8: the request left but never reached M-Pesa and the worker died. Nobody can know it did
    not arrive, so it is never re-sent: status queries find nothing, and a payout-unknown finding names
    the order and the originator id for an operator (`flask reconcile --findings`)."""
    reference = funded_order(stack)
    request = stack.daraja.hold(B2C_PATH, phase="request")
    stack.confirm_delivery(SELLER, BUYER, reference)
    assert request.arrived.wait(20), "the worker never sent the payout"
    stack.kill_worker()
    request.drop()
    stack.restart_worker()
    finding = wait_for(lambda: [f for f in stack.findings() if f.get("order") == reference
                                and f.get("kind") == "payout-unknown"], 25, "a payout-unknown finding")
    assert finding[0]["originator_id"].startswith(f"Z{reference}P")
    assert stack.b2c_requests_for(reference) == []
    assert stack.order_state(reference) == "released" and payout_status(stack) == "unknown"
    assert_money_whole(stack, reference)


def test_a_stopped_worker_that_wakes_after_another_took_over_pays_once(stack):
    """SIGSTOP: the worker freezes mid-call, its lease expires, a second worker finds the payout in
    flight; the frozen request then reaches M-Pesa and the first worker wakes. One transfer."""
    reference = funded_order(stack)
    request = stack.daraja.hold(B2C_PATH, phase="request")
    stack.confirm_delivery(SELLER, BUYER, reference)
    assert request.arrived.wait(20), "the worker never sent the payout"
    stack.kill_worker(signal.SIGSTOP)
    stack.expire_leases()
    stack.another_worker()
    wait_for(lambda: payout_status(stack) not in ("queued", "sending"), 20,
             "the second worker to take the payout in flight as unknown")
    request.release()
    stack.kill_worker(signal.SIGCONT)
    stack.wait_for_state(reference, "paid_out")
    assert_one_transfer(stack, reference)
    assert_money_whole(stack, reference)


def test_postgresql_crash_between_the_payout_answer_and_our_commit_loses_nothing(stack):
    """F2: PostgreSQL dies after M-Pesa accepted the payout and before we recorded it; the result
    callback arrives while it is down. After the restart: paid out once, the result kept."""
    reference = funded_order(stack)
    answer = stack.daraja.hold(B2C_PATH, phase="reply")
    result = stack.hooks.hold("/hooks/b2c/result/", phase="request")
    stack.confirm_delivery(SELLER, BUYER, reference)
    assert answer.arrived.wait(20), "M-Pesa never answered the payout"
    stack.postgres.crash()
    answer.release()
    assert result.arrived.wait(20), "M-Pesa never sent the payout's result"
    result.release()
    delivered = wait_for(lambda: [c for c in stack.sim_callbacks("/hooks/b2c/result/") if c["status"] or c["error"]],
                         20, "the app to answer the result callback")
    stack.postgres.start()
    stack.expire_leases()  # the worker's lease on the payout (60 s) runs out
    stack.wait_for_state(reference, "paid_out")
    assert_one_transfer(stack, reference)
    answered = delivered[0]["status"]
    assert answered is not None and 200 <= answered < 300, (
        f"the app answered {answered or delivered[0]['error']} to the result while PostgreSQL was down")
    assert wait_for(lambda: stack.stored_callbacks("b2c_result"), 15, "the kept result in the database")
    assert_money_whole(stack, reference)


def test_a_payout_while_redis_is_down_is_sent_once_and_paid(stack):
    """Issue 11 #2: Redis dies before the payout leaves; the token store's error is 'not sent', so
    the payout is sent (once) when it can be, not left unknown until it becomes a finding (F1)."""
    reference = funded_order(stack)
    stack.kill_worker(signal.SIGSTOP)
    stack.confirm_delivery(SELLER, BUYER, reference)
    stack.redis.kill9()
    stack.kill_worker(signal.SIGCONT)
    wait_for(lambda: _payout_item_tried(stack), 20, "the worker to try the payout while Redis is down")
    stack.redis.start()
    stack.wait_for_state(reference, "paid_out")
    assert_one_transfer(stack, reference)
    assert_money_whole(stack, reference)


def test_a_worker_killed_after_recording_the_payout_leaves_the_result_to_settle_it(stack):
    """I7 (c): the worker recorded M-Pesa's acceptance, then died; the result callback settles it."""
    reference = funded_order(stack)
    result = stack.hooks.hold("/hooks/b2c/result/", phase="request")
    stack.confirm_delivery(SELLER, BUYER, reference)
    assert result.arrived.wait(20), "M-Pesa never sent the payout's result"
    wait_for(lambda: payout_status(stack) == "sent", 10, "the worker to record the accepted payout")
    stack.kill_worker()
    result.release()
    stack.restart_worker()
    stack.wait_for_state(reference, "paid_out")
    assert_one_transfer(stack, reference)
    assert_money_whole(stack, reference)
