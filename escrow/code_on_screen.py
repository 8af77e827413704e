"""A delivery code that cannot arrive by SMS, shown once on the buyer's own USSD screen instead.

Africa's Talking refuses SMS to numbers on its blacklist (UserInBlackList, 406) and some numbers never
receive SMS at all. When the buyer's latest code SMS for an order failed for good, or is still not
delivered after CODE_SMS_WAIT_SECONDS, My orders offers the buyer a new code on the screen of their own
number (the network vouches for the caller), once per order. The finding that marks "once" is also what
tells an operator the SMS failed. The code is returned to the USSD adapter and never stored: only its
keyed hash, like every code (escrow/delivery.py).
"""
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.db import db_now
from escrow.delivery import LIFETIME_WRONG, issue_code
from escrow.errors import NotAllowed
from escrow.findings import FINDING, record_finding
from escrow.models import InboundCallback, Order, SmsMessage
from escrow.orders import buyer_phone, order_of_party
from escrow.phone import mask
from escrow.states import State
from escrow.views import OrderView

CODE_SMS = ("code_to_buyer", "new_code_to_buyer")
NEVER_ARRIVED = ("failed", "undelivered")       # refused by the provider, or a final failed report
ON_THE_WAY = ("queued", "sending", "sent")      # not delivered yet ("recorded" and "delivered" arrived)
HOLDS_A_CODE = (State.FUNDED.value, State.DISPATCHED.value)


def screen_key(order_id: int) -> str:
    return f"code-on-screen:{order_id}"


def code_sms_trouble(session: Session, core: Core, order: Order) -> str | None:
    """Why the buyer's latest code SMS for `order` cannot be counted on ("UserInBlackList",
    "not delivered after 30 min"), or None while it may still arrive or has arrived."""
    latest = session.execute(
        select(SmsMessage.status, SmsMessage.provider_status, SmsMessage.created_at)
        .where(SmsMessage.order_id == order.id, SmsMessage.kind.in_(CODE_SMS),
               SmsMessage.recipient_key == order.buyer_key)
        .order_by(SmsMessage.id.desc()).limit(1)).first()
    if latest is None:
        return None
    status, provider_status, created_at = latest
    if status in NEVER_ARRIVED:
        return provider_status or status
    wait = core.settings.code_sms_wait_seconds
    if status in ON_THE_WAY and created_at <= db_now(session) - timedelta(seconds=wait):
        return f"not delivered after {wait // 60} min"
    return None


def screen_code_offered(session: Session, core: Core, order: Order, role: str) -> bool:
    """My orders offers the buyer a code on screen: the order holds a code, the code SMS is in
    trouble, and no code was shown on screen for this order before."""
    if role != "buyer" or order.state not in HOLDS_A_CODE or order.code_failures_total >= LIFETIME_WRONG:
        return False
    if _shown_before(session, order.id):
        return False
    return code_sms_trouble(session, core, order) is not None


def show_code_on_screen(session: Session, core: Core, phone: str, reference: str) -> tuple[Order, str]:
    """A fresh code for the buyer to read on their screen, once per order; older codes stop working.
    Records the finding (the SMS failure, for an operator) in the same transaction."""
    order, role = order_of_party(session, core, phone, reference)
    if not screen_code_offered(session, core, order, role):
        raise NotAllowed("no code can be shown on screen for this order")
    trouble = code_sms_trouble(session, core, order)
    if not record_finding(session, screen_key(order.id), order_id=order.id,
                          summary=f"delivery code SMS to {mask(buyer_phone(core, order))} for order "
                                  f"{order.reference} did not arrive ({trouble}); the buyer was shown a new "
                                  f"code on USSD", sms_problem=trouble):
        raise NotAllowed("a code was shown on screen for this order already")
    return order, issue_code(session, core, order)


def _shown_before(session: Session, order_id: int) -> bool:
    return screen_code_after(session, order_id, None)


def screen_code_after(session: Session, order_id: int, moment) -> bool:
    """Whether a code was shown on the buyer's screen for this order (after `moment`, if given): an
    older code SMS then carries a dead code and must not be sent again (escrow/resend.py)."""
    query = select(InboundCallback.id).where(InboundCallback.source == FINDING,
                                             InboundCallback.dedupe_key == f"{FINDING}:{screen_key(order_id)}")
    if moment is not None:
        query = query.where(InboundCallback.received_at >= moment)
    return session.scalar(query.limit(1)) is not None


def with_screen_code_offer(session: Session, core: Core, order: Order, view: OrderView) -> OrderView:
    """The buyer's view with "code_on_screen" in place of "new_code" (a new code by SMS would not
    arrive either) while the code SMS is in trouble."""
    if "new_code" not in view.actions or not screen_code_offered(session, core, order, view.role):
        return view
    return replace(view, actions=tuple("code_on_screen" if name == "new_code" else name for name in view.actions))


def note_code_sms_failure(session: Session, message: SmsMessage, why: str) -> None:
    """A code SMS that failed for good is an operator finding at once (the buyer may never dial)."""
    if message.kind in CODE_SMS and message.order_id is not None:
        record_finding(session, f"code-sms-failed:{message.id}", order_id=message.order_id,
                       summary=f"delivery code SMS #{message.id} failed ({why}); the buyer can get a code "
                               f"on USSD from My orders", sms_problem=why)
