"""The core's side of a code that cannot arrive by SMS (escrow/code_on_screen.py): offered only while
the buyer's latest code SMS failed or is overdue, once per order, to the buyer alone; the new code
works and the old one (and any resend of its SMS) does not; operators get findings."""
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from escrow.db import utcnow
from escrow.errors import EscrowError, NotAllowed, WrongCode
from escrow.findings import list_findings
from escrow.models import SmsMessage
from escrow.resend import resend_sms
from tests.integration.test_escrow_core import BUYER, SELLER, delivery_code, funded_order, world  # noqa: F401


def code_sms(database):
    with database.transaction() as session:
        return session.scalars(select(SmsMessage).where(SmsMessage.kind == "code_to_buyer")).one()


def sent_code_sms(world):
    service, worker, _, sms = world
    order = funded_order(world)
    worker.run_once()
    service.accept_order(SELLER, order.reference)
    return order


def report(service, database, *, delivered, reason=None):
    return service.record_sms_delivery(SimpleNamespace(message_id=code_sms(database).provider_message_id,
                                                       status="Success" if delivered else "Failed", final=True,
                                                       delivered=delivered, failure_reason=reason))


def test_a_code_sms_on_its_way_or_delivered_offers_a_new_code_by_sms_only(world, database):
    service = world[0]
    order = sent_code_sms(world)
    assert "new_code" in service.order_for(BUYER, order.reference).actions
    report(service, database, delivered=True)
    assert "code_on_screen" not in service.order_for(BUYER, order.reference).actions
    with pytest.raises(NotAllowed):
        service.show_code_on_screen(BUYER, order.reference)


def test_a_refused_code_sms_gives_the_buyer_one_code_on_screen_that_works(world, database):
    service, worker, _, sms = world
    order = sent_code_sms(world)
    old_code = delivery_code(sms)
    assert report(service, database, delivered=False, reason="UserInBlackList") == "updated"
    assert {f["kind"] for f in list_findings_of(database)} == {"code-sms-failed"}

    view = service.order_for(BUYER, order.reference)
    assert "code_on_screen" in view.actions and "new_code" not in view.actions
    assert "code_on_screen" not in service.order_for(SELLER, order.reference).actions
    with pytest.raises(NotAllowed):
        service.show_code_on_screen(SELLER, order.reference)

    shown = service.show_code_on_screen(BUYER, order.reference)
    assert shown.code != old_code and len(shown.code) == 6
    assert {f["kind"] for f in list_findings_of(database)} == {"code-sms-failed", "code-on-screen"}
    assert "code_on_screen" not in service.order_for(BUYER, order.reference).actions
    with pytest.raises(NotAllowed):
        service.show_code_on_screen(BUYER, order.reference)
    old_sms = code_sms(database).id
    age_code_sms(database, timedelta(hours=1))
    with database.transaction() as session, pytest.raises(EscrowError, match="shown on the buyer's USSD screen"):
        resend_sms(session, old_sms)

    with pytest.raises(WrongCode):
        service.check_delivery_code(caller=SELLER, code=old_code)
    match = service.check_delivery_code(caller=SELLER, code=shown.code)
    assert service.confirm_delivery(caller=SELLER, reference=order.reference, token=match.token).state == "released"


def test_a_code_sms_not_delivered_after_the_wait_is_offered_on_screen(world, database):
    service = world[0]
    order = sent_code_sms(world)
    wait = service.core.settings.code_sms_wait_seconds
    age_code_sms(database, timedelta(seconds=wait - 60))
    assert "code_on_screen" not in service.order_for(BUYER, order.reference).actions
    age_code_sms(database, timedelta(seconds=wait + 60))
    assert "code_on_screen" in service.order_for(BUYER, order.reference).actions
    service.show_code_on_screen(BUYER, order.reference)
    finding = [f for f in list_findings_of(database) if f["kind"] == "code-on-screen"][0]
    assert f"not delivered after {wait // 60} min" in finding["summary"] and "0712***678" in finding["summary"]
    assert "0712345678" not in str(finding)


def age_code_sms(database, age):
    """Make every code SMS `age` old by the database's clock (as its rows are written)."""
    with database.transaction() as session:
        now = session.scalar(select(utcnow()))
        session.execute(update(SmsMessage).where(SmsMessage.kind == "code_to_buyer").values(created_at=now - age))


def list_findings_of(database):
    with database.transaction() as session:
        return list_findings(session)


def test_a_buyer_whose_line_no_prompt_can_reach_gets_no_push(world):
    service, worker, gateway, _ = world
    service.create_order(buyer=BUYER, seller=SELLER, price=900, item="Shoes", prompt=False)
    requested = service.request_payment(seller=SELLER, buyer=BUYER, price=900, item="Shoes")
    service.accept_request(BUYER, requested.reference, prompt=False)
    worker.run_once()
    assert gateway.pushes == []
    assert service.order_for(BUYER, requested.reference).state == "awaiting_payment"


@pytest.mark.parametrize("prompt, kind", [(False, "reminder_to_pay_paybill"), (True, "reminder_to_pay")])
def test_the_pay_reminder_names_paybill_when_no_prompt_was_sent(world, database, prompt, kind):
    from escrow.models import Order
    from escrow.reminders import KINDS, SUBJECT_BITS, send_reminder
    service, worker = world[0], world[1]
    order = service.create_order(buyer=BUYER, seller=SELLER, price=900, item="Shoes", prompt=prompt)
    with database.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == order.reference))
    assert send_reminder(database, service.core, (order_id << SUBJECT_BITS) | KINDS.index("pay")) == "sent"
    with database.transaction() as session:
        message = session.scalars(select(SmsMessage).where(SmsMessage.kind.like("reminder%"))).one()
    assert message.kind == kind
    assert ("Paybill 174379, account " + order.reference in message.body_redacted) is not prompt
