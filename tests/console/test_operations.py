"""Alerts to the people on call, delivery-code lockouts an agent lifts, and an admin's cancellation
(maker-checker above CONSOLE_APPROVAL_ABOVE), each audited."""
import pytest
import requests
from sqlalchemy import func, select

from escrow import alerts
from escrow.db import db_now, insert_new
from escrow.errors import CallerLocked, CodeLocked, WrongCode
from escrow.findings import record_finding
from escrow.models import CodeAttempt, Order, SmsMessage
from escrow.ops_models import Alert
from tests.console.conftest import Operators, post_form
from tests.console.test_console_access import audit_count, lock_caller
from tests.e2e.conftest import _live_service
from tests.e2e.test_journey import BUYER, SELLER, reference_in, settle
from tests.e2e.test_operator_commands import disputed_order

ON_CALL = "0733000111"


@pytest.fixture
def live_on_call(simulator, database_url, redis_url, tmp_path):
    yield from _live_service(simulator, database_url, redis_url, tmp_path,
                             {"SMS_BACKEND": "console", "ALERT_PHONES": f"{ON_CALL}, +254 733 000 111"})


def alert_texts(live) -> list[str]:
    return [text for text in live.texts_to(ON_CALL) if text.startswith("Zemi alert")]


def test_on_call_gets_one_sms_per_kind_per_hour_and_the_console_shows_the_same(live_on_call, simulator):
    live = live_on_call
    with live.zemi.db.transaction() as session:
        record_finding(session, "double-payment:test-1", order_id=None, summary="paid twice")
        record_finding(session, "statement-gap:test", order_id=None, summary="not money")
    live.run_worker()
    texts = alert_texts(live)
    assert len(texts) == 1 and "money-finding" in texts[0] and "double-payment" in texts[0] and len(texts[0]) <= 160
    with live.zemi.db.transaction() as session:
        record_finding(session, "payout-answer-mismatch:test-2", order_id=None, summary="answer names another")
        record_finding(session, "float-low:600000:test", order_id=None, summary="float short")
    live.run_worker()
    texts = alert_texts(live)
    assert len(texts) == 2 and "float-low" in texts[1]            # a new kind: told; the same kind: not again
    # the worker is stale: /readyz says so, and tells the people on call at once, once
    live.zemi.redis.flushdb()
    for _ in range(2):
        ready = requests.get(f"{live.base_url}/readyz", timeout=10)
        assert ready.status_code == 503 and "worker" in ready.json()["status"]
    texts = alert_texts(live)
    assert len(texts) == 3 and "worker-stale" in texts[2]
    with live.zemi.db.transaction() as session:
        statuses = session.scalars(select(SmsMessage.status).where(SmsMessage.kind == alerts.SMS_KIND)).all()
    assert statuses[-1] == "recorded"                             # sent without waiting for the worker
    operators = Operators(live)
    page = operators.client(operators.enrolled("vera", "viewer")).get("/console/alerts").get_data(as_text=True)
    assert "money-finding" in page and "float-low" in page and "worker-stale" in page
    assert "payout-answer-mismatch" in page and "1 number" in page and "EAT" in page
    overview = operators.client("vera").get("/console/").get_data(as_text=True)
    assert 'id="recent-alerts"' in overview and "worker-stale</b> at" in overview


def test_the_database_refuses_a_second_alert_of_a_kind_in_the_same_hour(live):
    with live.zemi.db.transaction() as session:
        hour = db_now(session).replace(minute=0, second=0, microsecond=0)
        first = insert_new(session, Alert, kind="float-low", hour=hour, summary="one")
        second = insert_new(session, Alert, kind="float-low", hour=hour, summary="two")
    assert first is not None and second is None


def test_an_agent_unlocks_a_caller_stopped_for_wrong_codes(live, simulator, operators):
    reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    key = lock_caller(live, BUYER)
    with pytest.raises(CallerLocked):
        live.zemi.service.check_delivery_code(caller=BUYER, code="000000")
    viewer = operators.client(operators.enrolled("vera", "viewer"))
    listed = viewer.get("/console/lockouts").get_data(as_text=True)
    assert "0712***678" in listed and "254712345678" not in listed and key not in listed   # no form for a viewer
    url = f"/console/lockouts/callers/{key}/unlock"
    assert post_form(viewer, url, {"reason": "buyer called"}, from_page="/console/lockouts").status_code == 403
    agent = operators.client(operators.enrolled("alice", "agent"))
    assert key in agent.get("/console/lockouts").get_data(as_text=True)
    done = post_form(agent, url, {"reason": "buyer called, mistyped"}, from_page="/console/lockouts")
    assert done.status_code == 302 and audit_count(live, "caller_unlocked") == 1
    with pytest.raises(WrongCode):
        live.zemi.service.check_delivery_code(caller=BUYER, code="000000")
    assert "No number is locked out" in agent.get("/console/lockouts").get_data(as_text=True)
    assert "locked out for wrong codes: 0<" in agent.get("/console/").get_data(as_text=True)
    again = post_form(agent, url, {"reason": "again"}, from_page="/console/lockouts")
    assert again.status_code == 400 and "not locked out" in again.get_data(as_text=True)


def test_an_agent_unlocks_an_orders_locked_code_and_the_right_code_then_works(live, simulator, operators):
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    live.zemi.service.accept_order(SELLER, reference)
    for _ in range(5):
        with pytest.raises((WrongCode, CodeLocked)):
            live.zemi.service.check_delivery_code(caller=BUYER, code="000000")
    with pytest.raises(CodeLocked):
        live.zemi.service.check_delivery_code(caller=BUYER, code=live.delivery_code(BUYER))
    agent = operators.client(operators.enrolled("alice", "agent"))
    assert reference in agent.get("/console/lockouts").get_data(as_text=True)
    done = post_form(agent, f"/console/lockouts/orders/{reference}/unlock", {"reason": "buyer's child typed"},
                     from_page="/console/lockouts")
    assert done.status_code == 302 and audit_count(live, "code_unlocked") == 1
    match = live.zemi.service.check_delivery_code(caller=BUYER, code=live.delivery_code(BUYER))
    assert match.order.reference == reference
    assert "code unlocked" in agent.get(f"/console/orders/{reference}").get_data(as_text=True)


def test_an_admin_cancels_a_paid_order_and_the_buyer_is_refunded_through_the_core(live, simulator, operators):
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    agent = operators.client(operators.enrolled("alice", "agent"))
    url, form = f"/console/orders/{reference}/cancel", {"reason": "seller unreachable"}
    assert post_form(agent, url, {**form, "code": operators.step_up_code("alice")}).status_code == 403
    admin = operators.client(operators.enrolled("adam", "admin"))
    assert 'id="cancel"' in admin.get(f"/console/orders/{reference}").get_data(as_text=True)
    done = post_form(admin, url, {**form, "code": operators.step_up_code("adam")})
    assert done.status_code == 302 and "done=cancelled" in done.headers["Location"], done.get_data(as_text=True)
    settle(live, simulator)
    shown = live.cli("orders", "show", reference).output
    assert shown.startswith(f"{reference} refunded") and "by adam (seller unreachable)" in shown
    assert audit_count(live, "order_cancelled") == 1 and live.cli("ledger", "check").exit_code == 0
    page = admin.get(f"/console/orders/{reference}").get_data(as_text=True)
    assert "operator adam" in page and "cancelled by operator" in page


def test_cancelling_a_disputed_order_is_refused_in_plain_words(live, simulator, operators):
    reference = disputed_order(live, simulator)
    admin = operators.client(operators.enrolled("adam", "admin"))
    refused = post_form(admin, f"/console/orders/{reference}/cancel",
                        {"reason": "try", "code": operators.step_up_code("adam")})
    assert refused.status_code == 400 and "resolve the dispute" in refused.get_data(as_text=True)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} disputed")


def test_a_large_cancellation_waits_for_a_second_admin(live, simulator, operators):
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "60000", "Fridge", "1")[-1])
    settle(live, simulator)
    adam = operators.client(operators.enrolled("adam", "admin"))
    ada = operators.client(operators.enrolled("ada", "admin"))
    order_url = f"/console/orders/{reference}"
    proposed = post_form(adam, f"{order_url}/cancel", {"reason": "fraud report", "code": operators.step_up_code("adam")})
    assert proposed.status_code == 302 and "done=cancel_proposed" in proposed.headers["Location"]
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} funded")
    page = ada.get(order_url).get_data(as_text=True)
    assert "Waiting for a second admin" in page and "KES 60,000" in page
    approval_id = page.split("/console/approvals/")[1].split("/")[0]
    approved = post_form(ada, f"/console/approvals/{approval_id}/approve", {"code": operators.step_up_code("ada")},
                         from_page=order_url)
    assert approved.status_code == 302, approved.get_data(as_text=True)
    with live.zemi.db.transaction() as session:
        assert session.scalar(select(Order.state).where(Order.reference == reference)) == "refunding"
        assert session.scalar(select(func.count()).select_from(SmsMessage).where(
            SmsMessage.kind == "order_cancelled")) == 1
    assert audit_count(live, "cancel_proposed") == 1 and audit_count(live, "order_cancelled") == 1


def test_raisers_at_once_send_one_alert_of_a_kind(live):
    """Eight threads raising the same kind together (as web processes and workers may): one alert, one SMS."""
    import threading

    settings = alerts.AlertSettings(phones=("254733000111",))
    barrier, raised = threading.Barrier(8), []

    def raise_one():
        barrier.wait()
        try:
            with live.zemi.db.transaction() as session:
                raised.append(alerts.raise_alert(session, live.zemi.core, settings, "float-low", "short"))
        except Exception as error:  # noqa: BLE001 -- SQLite refuses a second writer: that is "not raised"
            raised.append(type(error).__name__)
    threads = [threading.Thread(target=raise_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for result in raised if isinstance(result, tuple)) == 1, raised
    with live.zemi.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        assert session.scalar(select(func.count()).select_from(SmsMessage).where(
            SmsMessage.kind == alerts.SMS_KIND)) == 1
