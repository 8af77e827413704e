"""An operator (an admin in the console, or `flask orders cancel`) cancels an order (issue 15).

Before payment the order is simply cancelled; once paid (funded or sent) the whole charge goes back to
the buyer through the same refund as a seller's cancellation. A disputed order is settled by a dispute
decision, one under review by `return-payment`, and one whose payment is still being checked waits for
the check: each is refused here in plain words. Both parties are told by SMS."""
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.errors import NotAllowed
from escrow.lifecycle import _move, details, refund_in_full
from escrow.models import Order
from escrow.notify import order_with_languages, queue_sms
from escrow.orders import buyer_phone, seller_phone
from escrow.states import HOLDING, Event, State

CANCELLABLE = (State.REQUESTED, State.AWAITING_PAYMENT, State.FUNDED, State.DISPATCHED)
_ELSEWHERE = {State.DISPUTED: "it is in dispute: resolve the dispute (a refund returns everything)",
              State.NEEDS_REVIEW: "it is under review: return the payment from there",
              State.CHECKING_PAYMENT: "its payment is still being checked with M-Pesa: wait for the answer"}


def moves_money(order: Order) -> bool:
    return State(order.state) in HOLDING


def cancel_by_operator(session: Session, core: Core, reference: str, *, actor: str, reason: str) -> Order:
    order = order_with_languages(session, reference=reference)
    if order is None:
        raise NotAllowed(f"no order {reference[:12]}")
    state = State(order.state)
    if state not in CANCELLABLE:
        why = _ELSEWHERE.get(state, f"it is {state.value.replace('_', ' ')}")
        raise NotAllowed(f"order {order.reference} cannot be cancelled: {why}. Nothing was done.")
    paid = moves_money(order)
    _move(session, order, Event.CANCELLED_BY_OPERATOR, actor, reason)
    if paid:
        refund_in_full(session, core, order, why=f"cancelled by operator {actor}: {reason}")
    else:
        queue_sms(session, core, phone=buyer_phone(core, order), kind="order_cancelled", order_id=order.id,
                  **details(order))
    queue_sms(session, core, phone=seller_phone(core, order), kind="order_cancelled", order_id=order.id,
              **details(order))
    return order
