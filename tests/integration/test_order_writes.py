"""What creating an order writes (escrow/ordering.py): the order and everything that follows from it
in one statement on PostgreSQL, one after another on SQLite, and on both the same rows: its event,
the reminder to pay, and for a buyer's order the STK push attempt and the outbox row that sends it.
A reference that is already taken writes nothing of the new order's and is drawn again."""
from datetime import timedelta

from sqlalchemy import func, select

from escrow import ordering, outbox
from escrow.db import db_now
from escrow.models import Order, OrderEvent, OutboxItem, PaymentAttempt
from escrow.reminders import KINDS, SUBJECT_BITS

BUYER, SELLER = "0711222333", "0722000111"


def _rows(database, model, *where):
    with database.transaction() as session:
        return session.scalars(select(model).where(*where).order_by(model.id)).all()


def test_a_buyers_order_writes_its_event_its_pay_reminder_and_its_push(database, core):
    with database.transaction() as session:
        order = ordering.create_order(session, core, buyer=BUYER, seller=SELLER, price=1_000, item="Blue kitenge")
        now = db_now(session)
        assert order in session and order.id is not None and order.state == "awaiting_payment"
    assert order.pay_by == now + timedelta(seconds=core.settings.unpaid_ttl_seconds)
    [event] = _rows(database, OrderEvent)
    assert (event.order_id, event.event, event.from_state, event.to_state, event.actor, event.reason) == \
        (order.id, "order_created", None, "awaiting_payment", "buyer", None)
    [attempt] = _rows(database, PaymentAttempt)
    assert (attempt.order_id, attempt.amount, attempt.status) == (order.id, order.charge, "queued")
    reminder_subject = (order.id << SUBJECT_BITS) | KINDS.index("pay")
    items = {item.kind: item for item in _rows(database, OutboxItem)}
    assert set(items) == {outbox.REMINDER, outbox.STK_PUSH}
    reminder, push = items[outbox.REMINDER], items[outbox.STK_PUSH]
    assert (reminder.subject_id, reminder.dedupe_key, reminder.status, reminder.attempts) == \
        (reminder_subject, f"reminder:{reminder_subject}", "pending", 0)
    assert reminder.due_at == order.pay_by - timedelta(seconds=core.settings.pay_reminder_lead_seconds)
    assert (push.subject_id, push.dedupe_key, push.status, push.attempts) == \
        (attempt.id, f"stk_push:{attempt.id}", "pending", 0)
    assert push.due_at == now + timedelta(seconds=core.settings.stk_delay_seconds)


def test_an_order_no_prompt_can_reach_writes_no_push(database, core):
    with database.transaction() as session:
        order = ordering.create_order(session, core, buyer=BUYER, seller=SELLER, price=1_000, item="Shoes",
                                      prompt=False)
    assert len(_rows(database, OrderEvent)) == 1 and _rows(database, PaymentAttempt) == []
    assert [item.kind for item in _rows(database, OutboxItem)] == [outbox.REMINDER]
    assert order.state == "awaiting_payment"


def test_a_sellers_request_writes_its_event_and_no_reminder_to_pay(database, core):
    with database.transaction() as session:
        order, _token = ordering.request_payment(session, core, seller=SELLER, buyer=BUYER, price=1_000,
                                                 item="Shoes")
    [event] = _rows(database, OrderEvent)
    assert (event.order_id, event.to_state, event.actor) == (order.id, "requested", "seller")
    assert _rows(database, PaymentAttempt) == []
    assert [item.kind for item in _rows(database, OutboxItem)] == [outbox.SMS]   # the buyer's SMS only


def test_a_reference_already_taken_writes_nothing_and_is_drawn_again(database, core, monkeypatch):
    with database.transaction() as session:
        first = ordering.create_order(session, core, buyer=BUYER, seller=SELLER, price=1_000, item="Shoes")
    draws = iter([first.reference, "98765432"])
    monkeypatch.setattr(ordering, "new_reference", lambda: next(draws))
    with database.transaction() as session:
        second = ordering.create_order(session, core, buyer="0733444555", seller=SELLER, price=2_000, item="Hat")
    assert second.reference == "98765432" and second.id != first.id
    for model in (OrderEvent, PaymentAttempt):
        assert [row.order_id for row in _rows(database, model)] == [first.id, second.id]
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 4   # a reminder and a push each
        assert session.scalar(select(Order.price).where(Order.id == first.id)) == 1_000
