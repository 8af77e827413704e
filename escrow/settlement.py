"""Applying transfer results: a confirmed payout or refund closes its order and tells the party."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.models import Order, Payout
from escrow.notify import queue_sms
from escrow.orders import buyer_phone, seller_phone, transition
from escrow.payouts import PayoutResult, find_transfer, settle_transfer, take_earlier_payment
from escrow.states import Event, State


def record_payout_result(session: Session, core: Core, result: PayoutResult) -> str:
    """Apply a B2C result once: 'succeeded', 'failed', 'duplicate' or 'orphan'."""
    payout = find_transfer(session, result)
    if payout is None:
        return "orphan"
    return record_transfer_answer(session, core, payout, result)


def record_transfer_answer(session: Session, core: Core, payout: Payout, result: PayoutResult) -> str:
    """Apply a result to the transfer it answers (found by its ids, or named by a tagged URL)."""
    outcome = settle_transfer(session, payout, result, core)
    if outcome == "succeeded":
        _close_if_settled(session, core, session.get(Order, payout.order_id), payout, result.receipt)
    return outcome


def settle_with_earlier_payment(session: Session, core: Core, failed: Payout) -> bool:
    """A failed transfer whose predecessor was paid late (escrow.payouts.take_earlier_payment): that
    payment settles the order's transfer, and the order closes as it would have on its success."""
    taken = take_earlier_payment(session, core, failed)
    if taken is None:
        return False
    earlier, paid = taken
    if paid >= earlier.amount:
        _close_if_settled(session, core, session.get(Order, earlier.order_id), earlier, earlier.receipt)
    return True


def _close_if_settled(session: Session, core: Core, order: Order, payout: Payout, receipt: str | None) -> None:
    common = dict(ref=order.reference, item=order.item, receipt=receipt or "-", fee=f"{order.fee:,}")
    if payout.purpose == "payout" and order.state == State.RELEASED.value:
        transition(session, order, Event.PAYOUT_SUCCEEDED, actor="mpesa", reason=f"receipt {receipt}")
        queue_sms(session, core, phone=seller_phone(core, order), kind="payout_to_seller", order_id=order.id,
                  payout=f"{payout.amount:,}", **common)
    elif payout.purpose == "refund" and order.state == State.REFUNDING.value:
        transition(session, order, Event.REFUND_SUCCEEDED, actor="mpesa", reason=f"receipt {receipt}")
        queue_sms(session, core, phone=buyer_phone(core, order), kind="refund_sent", order_id=order.id,
                  amount=f"{payout.amount:,}", **common)
    elif order.state == State.SETTLING.value and _split_settled(session, order):
        transition(session, order, Event.SPLIT_SETTLED, actor="mpesa", reason=f"receipt {receipt}")


def _split_settled(session: Session, order: Order) -> bool:
    """Both transfers of a split paid: the order locked and read afresh first, so when the two answers
    are applied at once the second waits for the first and sees its transfer paid."""
    session.flush()
    session.refresh(order, with_for_update={"key_share": True})   # FOR NO KEY UPDATE: not blocked by our FK inserts
    return order.state == State.SETTLING.value and _all_transfers_succeeded(session, order)


def _all_transfers_succeeded(session: Session, order: Order) -> bool:
    statuses = session.scalars(select(Payout.status).where(Payout.order_id == order.id,
                                                           Payout.purpose.in_(("payout", "refund")))).all()
    live = [status for status in statuses if status != "failed"]
    return len(live) == 2 and all(status == "succeeded" for status in live)
