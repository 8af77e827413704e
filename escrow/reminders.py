"""Reminders before deadlines, as outbox items that check, when due, that they still apply."""
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow import outbox
from escrow.context import Core
from escrow.db import Database
from escrow.models import Order, PaymentAttempt, Profile
from escrow.notify import queue_sms
from escrow.orders import buyer_phone, seller_phone

# kind -> (the state it applies in, who is reminded)
REMINDERS = {"pay": ("awaiting_payment", "buyer"), "dispatch": ("funded", "seller"), "confirm": ("dispatched", "buyer")}
SUBJECT_BITS = 4  # the outbox subject packs (order id, reminder kind)
KINDS = tuple(REMINDERS)


def schedule_reminder(session: Session, core: Core, order: Order, kind: str, deadline: datetime) -> None:
    lead = core.settings.pay_reminder_lead_seconds if kind == "pay" else core.settings.reminder_lead_seconds
    subject = (order.id << SUBJECT_BITS) | KINDS.index(kind)
    outbox.enqueue_at_commit(session, outbox.REMINDER, subject, due_at=deadline - timedelta(seconds=lead))


def send_reminder(db: Database, core: Core, subject: int) -> str:
    order_id, kind = subject >> SUBJECT_BITS, KINDS[subject & ((1 << SUBJECT_BITS) - 1)]
    state, role = REMINDERS[kind]
    with db.transaction() as session:
        order = session.get(Order, order_id)
        if order.state != state:
            return "no longer needed"
        phone = buyer_phone(core, order) if role == "buyer" else seller_phone(core, order)
        if _reminders_off(session, core, phone):
            return "reminders stopped"
        deadline = {"pay": order.pay_by, "dispatch": order.dispatch_by, "confirm": order.release_at}[kind]
        text = f"reminder_to_{kind}"
        if kind == "pay" and not _prompted(session, order):
            text = "reminder_to_pay_paybill"   # made on a line no prompt reaches (ussd/network.py): Paybill only
        queue_sms(session, core, phone=phone, kind=text, order_id=order.id, ref=order.reference,
                  item=order.item, deadline=deadline, minutes=core.settings.pay_reminder_lead_seconds // 60)
    return "sent"


def _prompted(session: Session, order: Order) -> bool:
    """Whether an M-Pesa prompt was ever asked for this order (none is, for a line it cannot reach)."""
    return session.scalar(select(PaymentAttempt.id).where(PaymentAttempt.order_id == order.id).limit(1)) is not None


def _reminders_off(session: Session, core: Core, phone: str) -> bool:
    return bool(session.scalar(select(Profile.reminders_off).where(Profile.phone_key == core.vault.phone_key(phone))))
