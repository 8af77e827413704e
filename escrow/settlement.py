"""Applying payout results: the seller's payout confirmed closes the order."""
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.models import Order
from escrow.notify import queue_sms
from escrow.orders import seller_phone, transition
from escrow.payouts import PayoutResult, find_transfer, settle_transfer
from escrow.states import Event, State


def record_payout_result(session: Session, core: Core, result: PayoutResult) -> str:
    """Apply a B2C result once: 'succeeded', 'failed', 'duplicate' or 'orphan'."""
    payout = find_transfer(session, result)
    if payout is None:
        return "orphan"
    outcome = settle_transfer(session, payout, result)
    if outcome == "succeeded" and payout.purpose == "payout":
        _close_paid_order(session, core, session.get(Order, payout.order_id), result.receipt)
    return outcome


def _close_paid_order(session: Session, core: Core, order: Order, receipt: str | None) -> None:
    if order.state != State.RELEASED.value:
        return
    transition(session, order, Event.PAYOUT_SUCCEEDED, actor="mpesa", reason=f"receipt {receipt}")
    queue_sms(session, core, phone=seller_phone(core, order), kind="payout_to_seller", order_id=order.id,
              payout=f"{order.payout:,}", ref=order.reference, item=order.item, receipt=receipt or "-",
              fee=f"{order.fee:,}")
