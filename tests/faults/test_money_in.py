"""Faults on the way in: the STK push, its answer, its callback (issue 11 finding 1 and 2; I4, O1, F1, F2)."""
import signal

import pytest

from tests.faults.invariants import assert_money_whole
from tests.faults.servers import wait_for
from tests.faults.stack import STK_PATH

pytestmark = pytest.mark.faults

BUYER, SELLER, SELLER_LOCAL = "+254711000101", "+254722000202", "0722000202"


def test_without_faults_a_journey_is_funded_and_paid_out(stack):
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    stack.wait_for_state(reference, "funded")
    stack.confirm_delivery(SELLER, BUYER, reference)
    stack.wait_for_state(reference, "paid_out")
    assert_money_whole(stack, reference)


def _stk_item_tried(stack) -> bool:
    """The worker has taken the STK push's outbox item at least once and let go of it."""
    rows = stack.sql("SELECT attempts, leased_until, status FROM outbox WHERE kind = 'stk_push'")
    return bool(rows) and all(a >= 1 and (leased is None or status != "pending") for a, leased, status in rows)


def test_a_push_mpesa_accepted_whose_answer_died_with_the_worker_still_funds_the_order(stack):
    """Daraja accepted the push and the buyer paid; the worker died before it recorded the
    CheckoutRequestID. The callback alone must identify our attempt (issue 11 #1)."""
    answer = stack.daraja.hold(STK_PATH, phase="reply")
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    assert answer.arrived.wait(20), "the worker never sent the STK push"
    stack.kill_worker()
    wait_for(lambda: stack.sim_callbacks("/hooks/stk/"), 10, "M-Pesa's callback for the paid push")
    answer.drop()
    stack.restart_worker()
    stack.wait_for_state(reference, "funded")
    assert len(stack.stk_requests_for(reference)) == 1
    assert_money_whole(stack, reference)


@pytest.mark.parametrize("held", ["/oauth/v1/generate", STK_PATH], ids=["dead-fetching-the-token", "push-lost"])
def test_a_push_lost_on_the_way_when_the_worker_died_leaves_its_order_checking_not_expired(stack, held):
    """The worker died while fetching its token, or the push left and never reached M-Pesa: from
    outside nobody can know whether the buyer was asked. The attempt is not forgotten and the order
    waits as 'checking_payment' past its pay-by time (until the statement covers it), instead of
    expiring (issue 11 #1)."""
    request = stack.daraja.hold(held, phase="request")
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    assert request.arrived.wait(20), "the worker never sent the STK push"
    stack.kill_worker()
    request.drop()
    stack.restart_worker()
    wait_for(lambda: _stk_item_tried(stack) and stack.sql(
        "SELECT 1 FROM payment_attempts WHERE status NOT IN ('queued', 'sending')"), 15,
        "the new worker to settle what it can about the interrupted push")
    stack.sql("UPDATE orders SET pay_by = (now() AT TIME ZONE 'utc') - interval '1 second' WHERE reference = :r",
              r=reference)  # the pay-by time passes (15 minutes, fast-forwarded)
    state = stack.wait_for_state(reference, "checking_payment", "expired", timeout=15)
    assert state == "checking_payment", f"order {reference} expired while its push may have been paid"
    assert stack.stk_requests_for(reference) == []
    assert stack.sql("SELECT status FROM payment_attempts")[0][0] not in ("failed", "queued")
    assert_money_whole(stack, reference)
    # Two hours pass (fast-forwarded) and M-Pesa's statement covers them, with no payment: only now
    # does the order expire, with a finding giving the buyer's masked number and the amount.
    stack.sql("UPDATE payment_attempts SET created_at = created_at - interval '2 hours'")
    window = stack.sql("SELECT to_char((now() AT TIME ZONE 'utc') - interval '3 hours', 'YYYY-MM-DD HH24:MI:SS'), "
                       "to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD HH24:MI:SS')")[0]
    registered = stack.flask("mpesa", "register-pull", "--nominated-number", "0722000000")  # once, at go-live
    assert registered.returncode == 0, registered.stdout + registered.stderr
    statement = stack.flask("reconcile", "statement", "--from", window[0], "--to", window[1])
    assert statement.returncode == 0, statement.stdout + statement.stderr
    stack.wait_for_state(reference, "expired", timeout=15)
    finding = [f for f in stack.findings() if f.get("order") == reference]
    assert finding and "0711***101" in finding[0]["summary"] and "1,500" in finding[0]["summary"], finding
    assert_money_whole(stack, reference)


def test_a_callback_that_arrives_while_postgresql_is_down_is_kept_and_applied_when_it_returns(stack):
    """PostgreSQL is down when M-Pesa's success callback arrives: it is kept durably, acknowledged,
    and applied once the database is back (issue 11 #1, third point; F2)."""
    callback = stack.hooks.hold("/hooks/stk/", phase="request")
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    assert callback.arrived.wait(20), "M-Pesa never called back"
    stack.postgres.crash()
    callback.release()
    delivered = wait_for(lambda: [c for c in stack.sim_callbacks("/hooks/stk/") if c["status"] or c["error"]], 20,
                         "the app to answer the callback")
    stack.postgres.start()
    stack.wait_for_state(reference, "funded")
    answered = delivered[0]["status"]
    assert answered is not None and 200 <= answered < 300, (
        f"the app answered {answered or delivered[0]['error']} while PostgreSQL was down: M-Pesa does not retry")
    stored = wait_for(lambda: stack.stored_callbacks("stk"), 15, "the kept callback to reach the database")
    assert len(stored) == 1 and stored[0][1] in ("applied", "duplicate"), stored
    assert_money_whole(stack, reference)


def test_postgresql_crashing_while_a_callback_is_applied_never_acknowledges_a_lost_commit(stack):
    """PostgreSQL dies while the callback's transaction runs: the app may answer non-2xx (M-Pesa's
    money is then found by the STK query) but never 2xx for a callback it did not keep (F2)."""
    import threading

    callback = stack.hooks.hold("/hooks/stk/", phase="request")
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    assert callback.arrived.wait(20), "M-Pesa never called back"
    crash = threading.Thread(target=stack.postgres.crash)
    crash.start()
    callback.release()
    crash.join(30)
    delivered = wait_for(lambda: [c for c in stack.sim_callbacks("/hooks/stk/") if c["status"] or c["error"]], 20,
                         "the app to answer the callback")
    stack.postgres.start()
    stack.expire_leases()
    stack.wait_for_state(reference, "funded")
    answered = delivered[0]["status"]
    if answered is not None and 200 <= answered < 300:
        assert wait_for(lambda: stack.stored_callbacks("stk"), 15, "the acknowledged callback in the database")
    assert_money_whole(stack, reference)


def test_a_push_while_redis_is_down_is_sent_once_and_funds_the_order(stack):
    """Redis dies before the worker sends the push: the OAuth token store fails before any byte left
    for Daraja, so nothing was sent; the same push is sent (once) and the order funded (issue 11 #2; F1)."""
    stack.kill_worker(signal.SIGSTOP)
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    stack.redis.kill9()
    stack.kill_worker(signal.SIGCONT)
    wait_for(lambda: _stk_item_tried(stack), 20, "the worker to try the push while Redis is down")
    stack.redis.start()
    stack.wait_for_state(reference, "funded")
    assert len(stack.stk_requests_for(reference)) == 1
    assert_money_whole(stack, reference)


def test_postgresql_crash_between_the_push_answer_and_our_commit_still_funds_the_order(stack):
    """F2 + I4: PostgreSQL dies after M-Pesa accepted the push and before we recorded its
    CheckoutRequestID; the paid callback arrives while it is down. After the restart the callback
    (kept, and naming our attempt) funds the order: nothing else could, there is no id to query."""
    answer = stack.daraja.hold(STK_PATH, phase="reply")
    callback = stack.hooks.hold("/hooks/stk/", phase="request")
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    assert answer.arrived.wait(20), "the worker never sent the STK push"
    stack.postgres.crash()
    answer.release()
    assert callback.arrived.wait(20), "M-Pesa never called back"
    callback.release()
    wait_for(lambda: [c for c in stack.sim_callbacks("/hooks/stk/") if c["status"] or c["error"]], 20,
             "the app to answer the callback")
    stack.postgres.start()
    stack.expire_leases()  # the dead call's lease (60 s) runs out
    stack.wait_for_state(reference, "funded")
    assert len(stack.stk_requests_for(reference)) == 1
    assert_money_whole(stack, reference)
