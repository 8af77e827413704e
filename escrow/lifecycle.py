"""Everything a party or an operator can do to an order after it exists."""
from datetime import timedelta

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.context import Core
from escrow.db import db_now, insert_row
from escrow.delivery import LIFETIME_WRONG, issue_code, release_funds
from escrow.errors import EscrowError, NotAllowed
from escrow.ledger import credit, debit
from escrow.limits import check_push_limit
from escrow.models import Order, OrderEvent
from escrow.catalog import render
from escrow.notify import language_of, queue_sms
from escrow.ordering import queue_payment_request
from escrow.orders import buyer_phone, order_of_party, seller_phone, transition
from escrow.payouts import queue_transfer
from escrow.phone import to_local
from escrow.states import Event, State
from escrow.views import DISPUTE_REASONS


def _require(role: str, wanted: str) -> None:
    if role != wanted:
        raise NotAllowed(f"only the {wanted} can do this")


def _move(session: Session, order: Order, event: Event, actor: str, reason: str | None = None) -> None:
    if not transition(session, order, event, actor=actor, reason=reason):
        raise NotAllowed("the order changed meanwhile; please check it again")


def _now(session: Session):
    return db_now(session)


def details(order: Order) -> dict:
    """The values every order message may use (str.format ignores the ones a text does not)."""
    return dict(ref=order.reference, item=order.item, price=f"{order.price:,}", charge=f"{order.charge:,}",
                amount=f"{order.charge:,}", payout=f"{order.payout:,}", fee=f"{order.fee:,}")


def parties(core: Core, order: Order) -> dict:
    """Each party's number in full, for messages to the other party (they must reach each other)."""
    return dict(buyer=to_local(buyer_phone(core, order)), seller=to_local(seller_phone(core, order)))


def accept_request(session: Session, core: Core, phone: str, reference: str, prompt: bool = True) -> Order:
    """`prompt=False`: the buyer's line is not on M-Pesa; they pay by Paybill and no push is sent."""
    order, role = order_of_party(session, core, phone, reference)
    _require(role, "buyer")
    _refuse_past_pay_by(session, order)
    if prompt:
        check_push_limit(session, core, order.buyer_key)
    _move(session, order, Event.REQUEST_ACCEPTED, "buyer")
    pay_by = _now(session) + timedelta(seconds=core.settings.unpaid_ttl_seconds)
    session.execute(update(Order).where(Order.id == order.id).values(pay_by=pay_by))
    if prompt:
        queue_payment_request(session, core, order, delay_seconds=core.settings.stk_delay_seconds)
    return order


def _refuse_past_pay_by(session: Session, order: Order) -> None:
    """Past its pay-by an order takes no new prompt and a request no acceptance (which would set a
    fresh pay-by): the timer expires it at its next pass, as if it had run on time."""
    if order.pay_by is not None and order.pay_by <= _now(session):
        raise NotAllowed("the time to pay for this order has passed")


def decline_request(session: Session, core: Core, phone: str, reference: str) -> Order:
    order, role = order_of_party(session, core, phone, reference)
    _require(role, "buyer")
    _move(session, order, Event.REQUEST_DECLINED, "buyer")
    queue_sms(session, core, phone=seller_phone(core, order), kind="request_declined_to_seller",
              order_id=order.id, buyer=parties(core, order)["buyer"], **details(order))
    return order


def pay_again(session: Session, core: Core, phone: str, reference: str) -> Order:
    """Another STK push for an order still awaiting payment (the last one failed or was missed)."""
    order, role = order_of_party(session, core, phone, reference)
    _require(role, "buyer")
    if order.state != State.AWAITING_PAYMENT.value:
        raise NotAllowed("this order is not waiting for payment")
    _refuse_past_pay_by(session, order)
    check_push_limit(session, core, order.buyer_key)
    queue_payment_request(session, core, order, delay_seconds=core.settings.stk_delay_seconds)
    return order


def cancel_order(session: Session, core: Core, phone: str, reference: str) -> Order:
    """The buyer cancels before paying; the seller cancels a paid order, refunding the buyer in full.

    A seller who never heard of an unpaid order (the buyer created it) is not told; one who asked
    for the payment is. The buyer of a paid order is told the seller cancelled and is refunded."""
    order, role = order_of_party(session, core, phone, reference)
    if role == "buyer":
        _move(session, order, Event.CANCELLED_BY_BUYER, "buyer")
        if order.initiated_by == "seller":
            queue_sms(session, core, phone=seller_phone(core, order), kind="order_cancelled", order_id=order.id,
                      **details(order))
        return order
    _move(session, order, Event.CANCELLED_BY_SELLER, "seller")
    refund_in_full(session, core, order, why="cancelled by seller", buyer_kind="refund_seller_cancelled")
    return order


def accept_order(session: Session, core: Core, phone: str, reference: str) -> Order:
    """The seller accepts a paid order from their own line (the "held" SMS invites them): from now
    on the buyer may release the money to them. Accepting twice changes nothing."""
    order, role = order_of_party(session, core, phone, reference)
    _require(role, "seller")
    if order.state != State.FUNDED.value:
        raise NotAllowed("only a paid order waiting for the seller can be accepted")
    accepted = session.execute(update(Order).where(Order.id == order.id, Order.seller_accepted_at.is_(None))
                               .values(seller_accepted_at=_now(session))).rowcount
    if accepted:
        insert_row(session, OrderEvent, order_id=order.id, event="seller_accepted", from_state=order.state,
                   to_state=order.state, actor="seller", reason="accepted from the seller's line")
        session.refresh(order)
    return order


def mark_dispatched(session: Session, core: Core, phone: str, reference: str) -> Order:
    order, role = order_of_party(session, core, phone, reference)
    _require(role, "seller")
    _move(session, order, Event.DISPATCHED, "seller")
    release_at = _now(session) + timedelta(seconds=core.settings.inspection_seconds)
    session.execute(update(Order).where(Order.id == order.id).values(
        release_at=release_at, seller_accepted_at=func.coalesce(Order.seller_accepted_at, _now(session))))
    queue_sms(session, core, phone=buyer_phone(core, order), kind="dispatched_to_buyer", order_id=order.id,
              deadline=release_at, **details(order))
    from escrow.reminders import schedule_reminder
    schedule_reminder(session, core, order, "confirm", release_at)
    return order


def open_dispute(session: Session, core: Core, phone: str, reference: str, reason: str) -> Order:
    if reason not in DISPUTE_REASONS:
        raise EscrowError(f"unknown reason {reason!r}")
    order, role = order_of_party(session, core, phone, reference)
    _require(role, "buyer")
    _move(session, order, Event.DISPUTE_OPENED, "buyer", reason)
    session.execute(update(Order).where(Order.id == order.id).values(dispute_reason=reason))
    queue_sms(session, core, phone=seller_phone(core, order), kind="dispute_opened", order_id=order.id,
              problem=dispute_reason_text(core, session, seller_phone(core, order), reason), **details(order))
    queue_sms(session, core, phone=buyer_phone(core, order), kind="dispute_received", order_id=order.id,
              **details(order))
    return order


def dispute_reason_text(core: Core, session: Session, phone: str, reason: str) -> str:
    """The reason in the reader's language (the SMS catalog's own words for it)."""
    return _in_language(core, session, phone, f"sms.reason.{reason}")


def _in_language(core: Core, session: Session, phone: str, key: str) -> str:
    return render(language_of(session, core, phone), key)


def reissue_code(session: Session, core: Core, phone: str, reference: str) -> Order:
    """A fresh code for the buyer. Wrong guesses still count over the order's whole life."""
    order, role = order_of_party(session, core, phone, reference)
    _require(role, "buyer")
    if order.state not in (State.FUNDED.value, State.DISPATCHED.value):
        raise NotAllowed("this order has no delivery code to replace")
    if order.code_failures_total >= LIFETIME_WRONG:
        raise NotAllowed("too many wrong codes on this order; report a problem instead")
    code = issue_code(session, core, order)
    queue_sms(session, core, phone=buyer_phone(core, order), kind="new_code_to_buyer", order_id=order.id,
              secret={"code": code}, **details(order))
    return order


def refund_in_full(session: Session, core: Core, order: Order, *, why: str,
                   buyer_kind: str | None = "refund_queued") -> None:
    """Move the whole charge (fee included) from escrow to the buyer, and send it back to whoever paid:
    a paybill payment by Reversal on its TransID (its payer arrived masked, and anyone can pay an order's
    account number: B2C to the order's buyer paid a fraudster who had a victim pay for "their" order),
    an STK payment by B2C to the number we pushed to, the buyer's.
    `buyer_kind` is the SMS telling the buyer why (None: a decision SMS already says so)."""
    ledger.post(session, kind="refund_decision", dedupe_key=f"refund:{order.id}", order_id=order.id,
                lines=[debit(ledger.ESCROW_HELD, order.charge), credit(ledger.REFUNDS_PAYABLE, order.charge)],
                memo=why)
    by_b2c = order.charge - _reverse_paybill_payments(session, core, order, "funded")
    if by_b2c > 0:
        queue_transfer(session, core, order, purpose="refund", amount=by_b2c, phone=buyer_phone(core, order))
    if buyer_kind:
        queue_sms(session, core, phone=buyer_phone(core, order), kind=buyer_kind, order_id=order.id,
                  **details(order), **parties(core, order))


def resolve_dispute(session: Session, core: Core, reference: str, *, outcome: str, to_seller: int | None = None,
                    note: str = "", actor: str = "operator") -> Order:
    """An operator's decision: release, refund, or split (the seller gets `to_seller`, the fee is kept).
    `actor` is the operator's name for the timeline (the console's named accounts)."""
    from escrow.orders import order_by_reference

    order = order_by_reference(session, reference)
    params = details(order)
    if outcome == "release":
        _move(session, order, Event.DISPUTE_RELEASED, actor, note)
        release_funds(session, core, order, notify_buyer=False)
        kind = "dispute_released"
    elif outcome == "refund":
        _move(session, order, Event.DISPUTE_REFUNDED, actor, note)
        refund_in_full(session, core, order, why=f"dispute: {note}", buyer_kind=None)
        kind = "dispute_refunded"
    elif outcome == "split":
        seller_gets, to_buyer = _split(session, core, order, to_seller, note, actor)
        kind = "dispute_split"
        params.update(to_seller=f"{seller_gets:,}", to_buyer=f"{to_buyer:,}", share=f"{to_seller:,}")
    else:
        raise EscrowError(f"unknown outcome {outcome!r}")
    for phone in (buyer_phone(core, order), seller_phone(core, order)):
        queue_sms(session, core, phone=phone, kind=kind, order_id=order.id,
                  payer=_in_language(core, session, phone, f"sms.party.{order.fee_payer}"), **params)
    return order


def split_shares(order: Order, to_seller: int | None) -> tuple[int, int]:
    """(what the seller receives, what the buyer gets back) when the seller's share of the price is
    `to_seller`: the buyer gets the rest of the price; the fee comes from the party FEE_PAYER named
    when the order was made (a seller-pays fee out of the seller's share, never the buyer's)."""
    to_buyer = order.price - (to_seller or 0)
    seller_gets = (to_seller or 0) - (order.fee if order.fee_payer == "seller" else 0)
    if to_seller is None or seller_gets < 1 or to_buyer < 1:
        low = order.fee + 1 if order.fee_payer == "seller" else 1
        raise EscrowError(f"a split names the seller's share of the price KES {order.price:,}: {low} to "
                          f"{order.price - 1}; the buyer gets back the rest, and the fee comes from the "
                          f"{order.fee_payer}")
    return seller_gets, to_buyer


def _split(session: Session, core: Core, order: Order, to_seller: int | None, note: str,
           actor: str = "operator") -> tuple[int, int]:
    """Split the held money; returns (what the seller receives, what goes back to the buyer)."""
    seller_gets, to_buyer = split_shares(order, to_seller)
    _move(session, order, Event.DISPUTE_SPLIT, actor, note)
    ledger.post(session, kind="split_decision", dedupe_key=f"split:{order.id}", order_id=order.id,
                lines=[debit(ledger.ESCROW_HELD, order.charge), credit(ledger.SELLER_PAYABLE, seller_gets),
                       credit(ledger.REFUNDS_PAYABLE, to_buyer), credit(ledger.FEE_REVENUE, order.fee)],
                memo=note)
    queue_transfer(session, core, order, purpose="payout", amount=seller_gets, phone=seller_phone(core, order))
    queue_transfer(session, core, order, purpose="refund", amount=to_buyer, phone=buyer_phone(core, order))
    return seller_gets, to_buyer


def refund_review(session: Session, core: Core, reference: str, *, note: str = "",
                  actor: str = "operator") -> Order:
    """An operator (`actor`, their name for the timeline) returns a mismatched payment held in suspense
    to the buyer who sent it."""
    from escrow.orders import order_by_reference

    order = order_by_reference(session, reference)
    returned = _held_in_suspense(session, order)
    held = sum(amount for _, amount in returned)
    if held <= 0:
        raise EscrowError(f"order {reference} holds nothing in suspense")
    _move(session, order, Event.REVIEW_REFUNDED, actor, note or "payment returned")
    ledger.post(session, kind="review_refund", dedupe_key=f"review:{order.id}", order_id=order.id,
                lines=[debit(ledger.SUSPENSE, held), credit(ledger.REFUNDS_PAYABLE, held)], memo=note)
    by_b2c = held - _reverse_paybill_payments(session, core, order, [payment for payment, _ in returned])
    if by_b2c > 0:
        queue_transfer(session, core, order, purpose="refund", amount=by_b2c, phone=buyer_phone(core, order))
        queue_sms(session, core, phone=buyer_phone(core, order), kind="refund_queued", order_id=order.id,
                  **{**details(order), "amount": f"{by_b2c:,}"})
    return order


def _held_in_suspense(session: Session, order: Order) -> list:
    """[(payment, KES)]: the order's payments held in suspense on its own books, with what each holds
    there, locked and read once, so a review returns exactly the money it takes out of suspense (a
    payment that lands meanwhile stays there, for the next look)."""
    from sqlalchemy import literal, select

    from escrow.models import JournalEntry, PaymentReceived, Posting
    rows = session.execute(
        select(PaymentReceived, Posting.amount)
        .join(JournalEntry, JournalEntry.dedupe_key == literal("in:") + PaymentReceived.receipt)
        .join(Posting, (Posting.entry_id == JournalEntry.id) & (Posting.account == ledger.SUSPENSE)
              & (Posting.order_id == order.id))
        .where(PaymentReceived.order_id == order.id, PaymentReceived.outcome == "suspense")
        .order_by(PaymentReceived.id).with_for_update(of=PaymentReceived)).all()
    return [(payment, -amount) for payment, amount in rows]


def _reverse_paybill_payments(session: Session, core: Core, order: Order, outcome_or_payments) -> int:
    """This order's paybill payments with an outcome (funded it), or the payments given (the ones a
    review returns), go back by Reversal on their TransID to whoever paid (the payer's number arrived
    masked: the order's buyer may not be them); returns the KES so returned. A TransID reversed before
    is not sent again, nor by B2C: it is a finding (the money stays owed back in the books)."""
    from sqlalchemy import select

    from escrow.findings import record_finding
    from escrow.models import PaymentReceived
    from escrow.reversals import queue_reversal
    if isinstance(outcome_or_payments, str):
        payments = session.scalars(select(PaymentReceived).where(
            PaymentReceived.order_id == order.id, PaymentReceived.outcome == outcome_or_payments)).all()
    else:
        payments = outcome_or_payments
    total = 0
    for payment in [payment for payment in payments if payment.channel == "paybill"]:
        if queue_reversal(session, core, order.id, trans_id=payment.receipt, amount=payment.amount) is None:
            record_finding(session, f"refund-already-reversed:{payment.receipt}", order_id=order.id,
                           receipt=payment.receipt, amount=payment.amount,
                           summary=f"order {order.reference} is refunded but paybill payment {payment.receipt} "
                                   f"(KES {payment.amount:,}) was reversed before: nothing sent; check the statement")
        total += payment.amount
    return total
