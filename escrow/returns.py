"""Sending back money an order can no longer take, within the caps of escrow/return_limits.py.

Who paid decides how: an STK payment came from the number we pushed to (the buyer's), so it goes
back by B2C; a paybill payment's payer arrived masked or hashed, so it is reversed on its TransID
(escrow/reversals.py) and never sent by B2C to a number we only guess. Beyond the caps nothing is
sent: the money stays owed back (refunds_payable) with a finding for an operator.
"""
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.db import db_now
from escrow.findings import record_finding
from escrow.models import Order, Payout, Reversal
from escrow.money import format_kes
from escrow.notify import queue_sms
from escrow.orders import buyer_phone
from escrow.payouts import queue_transfer
from escrow.reversals import queue_reversal

DAY = timedelta(hours=24)
RETURNED = "refunding"
HELD = "return_held"


def send_back(session: Session, core: Core, order: Order, *, receipt: str, amount: int, channel: str) -> str:
    """Queue the return ('refunding') or, past a cap, record a finding instead ('return_held')."""
    _one_at_a_time(session)
    over = _over_limit(session, core, order.id, amount)
    if over:
        record_finding(session, f"return-held:{receipt}", order_id=order.id, receipt=receipt, amount=amount,
                       channel=channel,
                       summary=f"payment {receipt} of {format_kes(amount)} for order {order.reference} "
                               f"({order.state}) is owed back but was not returned automatically: {over}")
        return HELD
    if channel == "paybill":
        queue_reversal(session, core, order.id, trans_id=receipt, amount=amount)
        return RETURNED
    queue_transfer(session, core, order, purpose="return", amount=amount, phone=buyer_phone(core, order),
                   tag=_return_tag(core, receipt))
    queue_sms(session, core, phone=buyer_phone(core, order), kind="payment_returned", order_id=order.id,
              amount=f"{amount:,}", ref=order.reference, item=order.item)
    return RETURNED


def _return_tag(core: Core, receipt: str) -> str:
    """One originator id per receipt (a second return of it cannot be recorded), that the payer, who
    knows the receipt, cannot work out: a B2C result is a callback, and one forged for a return's
    originator id with a retryable failure code would have it sent again."""
    return core.vault.sign(f"return:{receipt}")[:16]


def _one_at_a_time(session: Session) -> None:
    """Automatic returns are rare: on PostgreSQL they take turns, so two at once cannot both pass a cap
    (SQLite already has one writer at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('zemi:auto-returns'))"))


def _over_limit(session: Session, core: Core, order_id: int, amount: int) -> str | None:
    limits = core.returns
    since = db_now(session) - DAY
    for_order = _count(session, Payout, Payout.order_id == order_id) + _count(session, Reversal,
                                                                             Reversal.order_id == order_id)
    if for_order >= limits.per_order:
        return f"order already had {for_order} automatic return(s) (AUTO_RETURNS_PER_ORDER={limits.per_order})"
    today = _count(session, Payout, Payout.created_at >= since) + _count(session, Reversal,
                                                                         Reversal.created_at >= since)
    if today >= limits.per_day:
        return f"{today} automatic returns in the last 24 hours (AUTO_RETURNS_PER_DAY={limits.per_day})"
    total = _sum(session, Payout, Payout.created_at >= since) + _sum(session, Reversal, Reversal.created_at >= since)
    if total + amount > limits.amount_per_day:
        return (f"{format_kes(total)} already returned in the last 24 hours "
                f"(AUTO_RETURNS_KES_PER_DAY={limits.amount_per_day:,})")
    return None


def _returns(model):
    """Automatic returns: B2C 'return' transfers (a retry counts once: its failed first try is left
    out) and every reversal."""
    if model is Payout:
        return (Payout.purpose == "return", Payout.status != "failed")
    return ()


def _count(session: Session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*_returns(model), *where))


def _sum(session: Session, model, *where) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(model.amount), 0)).where(*_returns(model), *where)))
