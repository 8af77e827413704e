"""Store-then-acknowledge (CALLBACK_APPLY=worker, issue 13): an STK callback is answered once its raw
body is stored, and the worker applies it. A burst of distinct callbacks arriving at once is all
stored and all applied exactly once (none lost, none twice), with several workers claiming at once.
Run it on PostgreSQL (DATABASE_URL) too: SKIP LOCKED and the lease only bite there."""
import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app import create_app
from escrow.intake import LEASE
from escrow.models import InboundCallback, Order, PaymentAttempt, SmsMessage
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY

TOKEN = "deferred-test-token"
BURST = 40


@pytest.fixture
def app(database_url, redis_url, tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url,
                      "REDIS_URL": redis_url, "CALLBACK_TOKEN": TOKEN, "SECRET_KEY": TEST_SECRET_KEY,
                      "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console",
                      "CALLBACK_APPLY": "worker"})
    yield app
    app.extensions["zemi"].db.dispose()


def zemi(app):
    return app.extensions["zemi"]


def stk_success(checkout_id: str, amount: int, receipt: str) -> bytes:
    return json.dumps({"Body": {"stkCallback": {
        "MerchantRequestID": "m-1", "CheckoutRequestID": checkout_id, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": amount},
                                      {"Name": "MpesaReceiptNumber", "Value": receipt},
                                      {"Name": "PhoneNumber", "Value": 254711000000}]}}}}).encode()


def awaiting_payment(app, count: int) -> list[tuple[int, int, str, int]]:
    """`count` orders whose STK push Daraja accepted: [(order id, attempt id, checkout id, charge)]."""
    service, made = zemi(app).service, []
    for index in range(count):
        view = service.create_order(buyer=f"07113{index:05d}", seller=f"07224{index:05d}", price=1_000 + index,
                                    item="Kitenge")
        with zemi(app).db.transaction() as session:
            order_id = session.scalar(select(Order.id).where(Order.reference == view.reference))
            attempt_id, charge = session.execute(select(PaymentAttempt.id, PaymentAttempt.amount)
                                                 .where(PaymentAttempt.order_id == order_id)).one()
            checkout = f"ws_CO_burst_{index}"
            session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt_id)
                            .values(status="sent", checkout_request_id=checkout))
        made.append((order_id, attempt_id, checkout, charge))
    return made


def send_at_once(app, requests: list[tuple[str, bytes]]) -> list[int]:
    """Every request from its own thread, released together; the HTTP statuses."""
    gate, statuses, lock = threading.Barrier(len(requests)), [], threading.Lock()

    def send(path, body):
        client = app.test_client()
        gate.wait(timeout=30)
        status = client.post(path, data=body, content_type="application/json").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def drain_with_workers(app, workers: int = 3) -> None:
    """`workers` threads claim and apply at once until nothing is left."""
    intake = zemi(app).service.intake

    def work():
        for _ in range(200):
            if not intake.apply_waiting(limit=5):
                return

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def test_a_burst_of_callbacks_is_stored_answered_and_applied_once_by_concurrent_workers(app):
    orders = awaiting_payment(app, BURST)
    requests = [(f"/hooks/stk/{TOKEN}/a{attempt_id}", stk_success(checkout, charge, f"RB{index:08d}"))
                for index, (_, attempt_id, checkout, charge) in enumerate(orders)]

    assert send_at_once(app, requests) == [200] * BURST
    with zemi(app).db.transaction() as session:
        statuses = session.scalars(select(InboundCallback.status).where(InboundCallback.source == "stk")).all()
        funded_before = session.scalar(select(func.count()).select_from(Order).where(Order.state == "funded"))
    assert sorted(statuses) == ["received"] * BURST   # all kept, none applied by the request
    assert funded_before == 0

    drain_with_workers(app)

    with zemi(app).db.transaction() as session:
        statuses = session.scalars(select(InboundCallback.status).where(InboundCallback.source == "stk")).all()
        states = session.scalars(select(Order.state).where(Order.id.in_([o[0] for o in orders]))).all()
        codes = session.execute(select(SmsMessage.order_id, func.count()).where(SmsMessage.kind == "code_to_buyer")
                                .group_by(SmsMessage.order_id)).all()
    assert sorted(statuses) == ["applied"] * BURST         # each applied, none seen twice ('duplicate')
    assert sorted(states) == ["funded"] * BURST
    assert sorted(count for _, count in codes) == [1] * BURST   # one delivery code per order


def test_a_deferred_callback_keeps_its_url_attempt_id_and_a_dead_claim_is_taken_again(app):
    [(order_id, attempt_id, _, charge)] = awaiting_payment(app, 1)
    with zemi(app).db.transaction() as session:   # Daraja's answer to the push was lost: no checkout id here
        session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt_id)
                        .values(status="unknown", checkout_request_id=None))
    # Only the attempt id in the URL ties this callback to the order.
    response = app.test_client().post(f"/hooks/stk/{TOKEN}/a{attempt_id}",
                                      data=stk_success("ws_CO_late_1", charge, "RL00000001"),
                                      content_type="application/json")
    assert response.status_code == 200
    intake = zemi(app).service.intake
    assert len(intake._claim(InboundCallback.source == "stk", 10)) == 1   # a worker claims it, then dies
    assert intake.apply_waiting() == 0                                     # leased: nobody else takes it
    with zemi(app).db.transaction() as session:                           # the lease runs out
        session.execute(update(InboundCallback).values(leased_until=InboundCallback.leased_until - LEASE
                                                       - timedelta(seconds=1)))
    assert intake.apply_waiting() == 1
    with zemi(app).db.transaction() as session:
        assert session.get(Order, order_id).state == "funded"


def default_app(database_url, redis_url, tmp_path, **extra):
    """The app as configured with no CALLBACK_APPLY unless `extra` names one."""
    return create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url,
                       "REDIS_URL": redis_url, "CALLBACK_TOKEN": TOKEN, "SECRET_KEY": TEST_SECRET_KEY,
                       "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console", **extra})


def test_by_default_a_callback_is_acknowledged_before_it_is_applied_then_applied_once_by_the_next_pass(
        database_url, redis_url, tmp_path):
    app = default_app(database_url, redis_url, tmp_path)
    try:
        [(order_id, attempt_id, checkout, charge)] = awaiting_payment(app, 1)
        response = app.test_client().post(f"/hooks/stk/{TOKEN}/a{attempt_id}",
                                          data=stk_success(checkout, charge, "RD00000001"),
                                          content_type="application/json")
        assert response.status_code == 200 and response.get_json()["ResultCode"] == 0
        with zemi(app).db.transaction() as session:   # answered, kept, not yet applied
            assert session.scalar(select(InboundCallback.status).where(InboundCallback.source == "stk")) == "received"
            assert session.get(Order, order_id).state == "awaiting_payment"
        with app.app_context():
            zemi(app).worker().run_once()           # the worker's next pass
            zemi(app).worker().run_once()           # and another: nothing left to apply twice
        with zemi(app).db.transaction() as session:
            assert session.get(Order, order_id).state == "funded"
            assert session.scalars(select(InboundCallback.status)
                                   .where(InboundCallback.source == "stk")).all() == ["applied"]
            assert session.scalar(select(func.count()).select_from(SmsMessage)
                                  .where(SmsMessage.kind == "code_to_buyer")) == 1
        assert zemi(app).service.intake.apply_waiting() == 0
    finally:
        app.extensions["zemi"].db.dispose()


def test_inline_when_chosen_applies_before_answering(database_url, redis_url, tmp_path):
    app = default_app(database_url, redis_url, tmp_path, CALLBACK_APPLY="inline")
    try:
        [(order_id, attempt_id, checkout, charge)] = awaiting_payment(app, 1)
        app.test_client().post(f"/hooks/stk/{TOKEN}/a{attempt_id}", data=stk_success(checkout, charge, "RI00000001"),
                               content_type="application/json")
        with zemi(app).db.transaction() as session:
            assert session.get(Order, order_id).state == "funded"
        assert zemi(app).service.intake.apply_waiting() == 0
    finally:
        app.extensions["zemi"].db.dispose()


def test_between_passes_the_worker_applies_a_stored_callback_within_a_poll(app):
    """Funding latency: an idle worker looks for stored callbacks every CALLBACK_POLL_SECONDS, not
    only at its next pass, and starts a pass at once when it applied one."""
    from escrow.worker import CALLBACK_POLL_SECONDS, Worker

    [(order_id, attempt_id, checkout, charge)] = awaiting_payment(app, 1)
    worker = Worker(zemi(app).db, zemi(app).core, gateway=None, sender=None).attach_intake(zemi(app).service.intake)
    stop, waited = threading.Event(), []

    def idle():
        began = time.monotonic()
        worker._idle(30.0, stop)   # a long pause: only the callback poll can end it early
        waited.append(time.monotonic() - began)

    thread = threading.Thread(target=idle)
    thread.start()
    try:
        response = app.test_client().post(f"/hooks/stk/{TOKEN}/a{attempt_id}",
                                          data=stk_success(checkout, charge, "RW00000001"),
                                          content_type="application/json")
        thread.join(timeout=20)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert response.status_code == 200
    assert waited and waited[0] < 10 * CALLBACK_POLL_SECONDS + 5   # not the 30 s pause
    with zemi(app).db.transaction() as session:
        assert session.get(Order, order_id).state == "funded"


def test_a_worker_configured_inline_still_applies_what_web_servers_storing_then_acknowledging_kept(
        database_url, redis_url, tmp_path):
    """CALLBACK_APPLY is read by each process: web servers on `worker` with a worker process left on
    `inline` must not leave money in waiting for the reconcile pass's retry of old rows."""
    web = default_app(database_url, redis_url, tmp_path, CALLBACK_APPLY="worker")
    worker_app = default_app(database_url, redis_url, tmp_path, CALLBACK_APPLY="inline")
    try:
        [(order_id, attempt_id, checkout, charge)] = awaiting_payment(web, 1)
        response = web.test_client().post(f"/hooks/stk/{TOKEN}/a{attempt_id}",
                                          data=stk_success(checkout, charge, "RX00000001"),
                                          content_type="application/json")
        assert response.status_code == 200
        with worker_app.app_context():
            zemi(worker_app).worker().run_once()
        with zemi(web).db.transaction() as session:
            assert session.get(Order, order_id).state == "funded"
            assert session.scalars(select(InboundCallback.status)).all() == ["applied"]
    finally:
        web.extensions["zemi"].db.dispose()
        worker_app.extensions["zemi"].db.dispose()


def test_a_worker_leaves_a_callback_to_the_inline_route_applying_it(database_url, redis_url, tmp_path):
    """An inline route keeps the body, then applies it: a worker claiming stored callbacks meanwhile
    does not take that row (the route keeps it leased), so it is applied once, by its route."""
    app = default_app(database_url, redis_url, tmp_path, CALLBACK_APPLY="inline")
    try:
        [(order_id, attempt_id, checkout, charge)] = awaiting_payment(app, 1)
        intake, claimed = zemi(app).service.intake, []
        apply_inline = intake.processors["stk"]

        def worker_claims_first(raw, callback_id):
            claimed.append(intake.apply_waiting())   # a worker's claim while the route is about to apply
            return apply_inline(raw, callback_id)

        intake.processors["stk"] = worker_claims_first
        response = app.test_client().post(f"/hooks/stk/{TOKEN}/a{attempt_id}",
                                          data=stk_success(checkout, charge, "RY00000001"),
                                          content_type="application/json")
        assert response.status_code == 200 and claimed == [0]
        with zemi(app).db.transaction() as session:
            assert session.get(Order, order_id).state == "funded"
            assert session.scalars(select(InboundCallback.status)).all() == ["applied"]
    finally:
        app.extensions["zemi"].db.dispose()
