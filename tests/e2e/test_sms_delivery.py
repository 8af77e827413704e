"""SMS through the real Africa's Talking SDK against the local double, with delivery reports and replies."""
from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.test_journey import BUYER, SELLER, reference_in, settle


def test_journey_sms_go_through_the_sdk_and_delivery_reports_come_back(live_with_at, simulator, at_double):
    live = live_with_at
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    sent = at_double.messages()
    assert {m["to"] for m in sent} == {BUYER, SELLER}
    assert all(m["from"] == "ZEMI" and m["api_key"] == "e2e-at-key" for m in sent)
    code_sms = next(m["message"] for m in sent if m["to"] == BUYER)
    assert reference in code_sms
    assert "******" in live.cli("sms", "list").output  # the code is in the SMS, never in our records

    statuses = at_double.post_delivery_reports(f"{live.base_url}/hooks/sms/delivery/{CALLBACK_TOKEN}")
    assert statuses == [200, 200]
    listed = live.cli("sms", "list").output
    assert listed.count("delivered") == 2
    assert at_double.post_delivery_reports(f"{live.base_url}/hooks/sms/delivery/{CALLBACK_TOKEN}") == [200, 200]
    assert live.cli("sms", "list").output == listed  # a repeated report changes nothing


def test_a_failed_recipient_is_retried_and_a_permanent_failure_is_not(live_with_at, simulator, at_double):
    live = live_with_at
    at_double.fail_number(SELLER, 500, times=1)   # gateway error once: retryable
    at_double.fail_number(BUYER, 406)             # blacklisted: permanent
    live.dial(BUYER, "1", "0722000111", "900", "Shoes", "1")
    settle(live, simulator)
    from sqlalchemy import update
    from escrow.models import OutboxItem
    with live.zemi.db.transaction() as session:  # skip the back-off wait
        session.execute(update(OutboxItem).where(OutboxItem.status == "pending").values(due_at=OutboxItem.created_at))
    live.run_worker()
    listed = live.cli("sms", "list").output.splitlines()
    assert any("failed" in line and "0712***678" in line for line in listed)
    assert any("sent" in line and "0722***111" in line for line in listed)
    held = [m for m in at_double.messages() if m["to"] == SELLER and "is held" in m["message"]]
    assert [m["status_code"] for m in held] == [500, 102]  # refused once, then accepted once


def test_help_and_stop_replies_are_answered_once(live_with_at, at_double):
    live = live_with_at
    url = f"{live.base_url}/hooks/sms/inbound/{CALLBACK_TOKEN}"
    assert at_double.post_inbound(url, BUYER, " msaada ") == 200
    assert at_double.post_inbound(url, BUYER, "STOP") == 200
    live.run_worker()
    texts = live.texts_to(BUYER)
    assert len(texts) == 2
    assert live.cli("sms", "list", "--to", BUYER).output.count("[help]") == 1
