"""Delivery codes and release: the code proves the buyer received the goods.

Codes are 6 digits from `secrets`, stored only as a keyed hash bound to the order, compared in
constant time. Every wrong entry is counted in the database, per order and per caller.

Money goes only to a seller who has acted on the order from their own line (asked for the payment,
accepted it, marked it sent, or entered the code): a buyer who mistyped the seller's number and
then enters the code themselves must not pay a stranger who never dialled."""
import hmac
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.context import Core
from escrow.db import db_now
from escrow.errors import CallerLocked, CodeLocked, NotAllowed, OrderNotFound, SellerNotAccepted, WrongCode
from escrow.ledger import credit, debit
from escrow.models import CodeAttempt, Order
from escrow.notify import queue_sms, queue_sms_at_commit
from escrow.orders import (buyer_phone, order_of_party, role_of, seller_has_acted, seller_phone, transition,
                           view_for)
from escrow.payouts import queue_transfer_at_commit
from escrow.phone import to_local
from escrow.states import OPEN_FOR_DELIVERY, Event
from escrow.vault import new_delivery_code
from escrow.views import CodeMatch, OrderView

MAX_WRONG_PER_ORDER = 5      # per code: then the code locks and the buyer may ask for a fresh one
LIFETIME_WRONG = 9           # per order, over all its codes: 9 guesses in 10**6 stay below 1 in 100,000
MAX_WRONG_PER_CALLER_PER_DAY = 10


def issue_code(session: Session, core: Core, order: Order, **also) -> str:
    """A fresh code for `order`; only its hash is kept. The caller sends the code by SMS. `also`:
    other columns of the order to set in the same UPDATE."""
    code, columns = new_code(core, order)
    session.execute(update(Order).where(Order.id == order.id).values(**columns, **also))
    return code


def new_code(core: Core, order: Order) -> tuple[str, dict]:
    """A fresh code and the order's columns that make it the one to enter (for the caller's UPDATE)."""
    code = new_delivery_code()
    return code, dict(code_hash=core.vault.code_hash(order.id, code), code_locked=False, code_failures=0)


def check_delivery_code(session: Session, core: Core, *, caller: str, code: str) -> CodeMatch:
    """Find the caller's open order this code belongs to; count a miss against each of them."""
    caller_key = core.vault.phone_key(caller)
    orders = _open_orders_of(session, caller_key)   # locked: guesses sent at once are counted one by one
    if not orders:
        raise OrderNotFound("no order waiting for delivery")
    _refuse_if_caller_blocked(session, caller_key)
    usable = [order for order in orders if not order.code_locked]
    if not usable:
        raise CodeLocked("code entry is locked for your orders")
    for order in usable:
        if core.vault.code_matches(order.id, (code or "").strip(), order.code_hash):
            session.add(CodeAttempt(caller_key=caller_key, order_id=order.id, succeeded=True))
            role = role_of(order, caller_key)
            _refuse_unless_seller_acted(order, role)
            return CodeMatch(order=view_for(core, order, role),
                             token=_confirmation_token(core, order, caller_key))
    return _count_miss(session, core, caller_key, usable)


def confirm_delivery(session: Session, core: Core, *, caller: str, reference: str, token: str) -> OrderView:
    """Release the order to the seller: the ledger moves the money to the seller's payable,
    the B2C payout is queued, the buyer is told. A second confirm finds nothing to release."""
    order, role = order_of_party(session, core, caller, reference, with_languages=True)
    if not hmac.compare_digest(_confirmation_token(core, order, core.vault.phone_key(caller)), token or ""):
        raise NotAllowed("the delivery code must be entered again")
    _refuse_unless_seller_acted(order, role)
    if not transition(session, order, Event.DELIVERY_CONFIRMED, actor=role, reason="delivery code accepted"):
        raise NotAllowed("the order changed; please check it again")
    release_funds(session, core, order)
    return view_for(core, order, role)


def _refuse_unless_seller_acted(order: Order, role: str) -> None:
    """A seller entering the code acts by doing so; a buyer may release only to a seller who acted."""
    if role == "buyer" and not seller_has_acted(order):
        raise SellerNotAccepted(order.reference)


def release_funds(session: Session, core: Core, order: Order, *, notify_buyer: bool = True) -> None:
    """The release's entry, the payout and the buyer's message: written at commit, in one statement
    (escrow/writes.py), since nothing here reads them back."""
    ledger.post_at_commit(session, kind="release", dedupe_key=f"release:{order.id}", order_id=order.id,
                          lines=[debit(ledger.ESCROW_HELD, order.charge), credit(ledger.SELLER_PAYABLE, order.payout),
                                 credit(ledger.FEE_REVENUE, order.fee)])
    queue_transfer_at_commit(session, core, order, purpose="payout", amount=order.payout,
                             phone=seller_phone(core, order))
    if notify_buyer:
        queue_sms_at_commit(session, core, phone=buyer_phone(core, order), kind="released_to_buyer",
                            order_id=order.id, item=order.item, ref=order.reference, payout=f"{order.payout:,}",
                            fee=f"{order.fee:,}", seller=to_local(seller_phone(core, order)))


def _confirmation_token(core: Core, order: Order, caller_key: str) -> str:
    """Stands in for the code between the code screen and the confirm screen; changes with the code."""
    return core.vault.sign(f"confirm:{order.id}:{order.code_hash}:{caller_key}")


def _open_orders_of(session: Session, caller_key: str) -> list[Order]:
    states = [state.value for state in OPEN_FOR_DELIVERY]
    return list(session.scalars(
        select(Order).where(Order.state.in_(states), (Order.buyer_key == caller_key) | (Order.seller_key == caller_key))
        .order_by(Order.id).with_for_update()))


def _count_miss(session: Session, core: Core, caller_key: str, orders: list[Order]) -> CodeMatch:
    """A wrong code counts against every open order of the caller: each is a guess at all of them."""
    session.add(CodeAttempt(caller_key=caller_key, order_id=None, succeeded=False))
    remaining = MAX_WRONG_PER_ORDER
    for order in orders:
        left = min(MAX_WRONG_PER_ORDER - order.code_failures, LIFETIME_WRONG - order.code_failures_total) - 1
        remaining = min(remaining, left)
        session.execute(update(Order).where(Order.id == order.id).values(
            code_failures=Order.code_failures + 1, code_failures_total=Order.code_failures_total + 1,
            code_locked=left <= 0))
        if left <= 0:
            queue_sms(session, core, phone=buyer_phone(core, order), kind="code_locked_to_buyer",
                      order_id=order.id, ref=order.reference, item=order.item)
    if remaining <= 0:
        raise CodeLocked("too many wrong codes")
    raise WrongCode(remaining)


def _refuse_if_caller_blocked(session: Session, caller_key: str) -> None:
    """A number that keeps guessing is stopped across all its orders, judged on database time."""
    from escrow.lockouts import misses_since   # an operator's unlock (console) restarts the count

    day_ago = db_now(session) - timedelta(days=1)
    misses = session.scalar(select(func.count()).select_from(CodeAttempt).where(*misses_since(caller_key, day_ago)))
    if misses >= MAX_WRONG_PER_CALLER_PER_DAY:
        raise CallerLocked("too many wrong codes from this number today")
