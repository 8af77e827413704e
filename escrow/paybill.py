"""The paybill fallback (C2B): the buyer pays our paybill with the order reference as the account.

Validation (when Safaricom has enabled it for the shortcode) accepts only a known order that is
waiting for payment, for its exact charge, on our shortcode; anything else is refused with
Daraja's codes before any money moves. Confirmation is the money having moved: it is recorded
once per TransID (an M-Pesa receipt, unique with STK receipts in `payments_received`) and goes
through the same use case as an STK payment, `funding.apply_money_in`: fund, or suspense and
review on a wrong amount, or return if the order can no longer take it. Money for no order we
know (validation off or bypassed) is kept in suspense with a finding for review.
"""
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.context import Core
from escrow.db import insert_once
from escrow.findings import record_finding
from escrow.funding import apply_money_in, noted_on_an_attempt
from escrow.ledger import credit, debit
from escrow.models import Order, PaymentReceived
from escrow.states import State

ACCEPT = ("0", "Accepted")
INVALID_ACCOUNT = ("C2B00012", "Rejected")
INVALID_AMOUNT = ("C2B00013", "Rejected")
INVALID_SHORTCODE = ("C2B00015", "Rejected")
OTHER_ERROR = ("C2B00016", "Rejected")


@dataclass(frozen=True)
class PaybillPayment:
    """A C2B payment in the core's words. The payer's number is masked or hashed by Daraja: the
    order is found by its reference (BillRefNumber) alone."""
    trans_id: str
    amount: int
    account: str
    shortcode: str


def _order_for(session: Session, account: str) -> Order | None:
    return session.scalar(select(Order).where(Order.reference == (account or "").strip().upper()))


def validate_payment(session: Session, core: Core, payment: PaybillPayment,
                     our_shortcode: str | None = None) -> tuple[str, str]:
    """(ResultCode, ResultDesc) for Daraja's validation request; reads only."""
    if _wrong_shortcode(core, payment, our_shortcode):
        return INVALID_SHORTCODE
    order = _order_for(session, payment.account)
    if order is None or order.state != State.AWAITING_PAYMENT.value:
        return INVALID_ACCOUNT
    if payment.amount != order.charge:
        return INVALID_AMOUNT
    return ACCEPT


def _wrong_shortcode(core: Core, payment: PaybillPayment, our_shortcode: str | None) -> bool:
    ours = our_shortcode or core.paybill
    return bool(ours and payment.shortcode and payment.shortcode != ours)


def record_paybill_payment(session: Session, core: Core, payment: PaybillPayment,
                           our_shortcode: str | None = None) -> str:
    """Apply a confirmation once: 'funded', 'suspense', 'refunding' or 'duplicate'."""
    order = _order_for(session, payment.account)
    wrong_shortcode = _wrong_shortcode(core, payment, our_shortcode)
    if noted_on_an_attempt(session, payment.trans_id):   # an STK payment we hold under QRY-<attempt>
        return "duplicate"
    if order is None or wrong_shortcode:
        return _unmatched(session, payment, order, "wrong shortcode" if wrong_shortcode else "unknown account")
    return apply_money_in(session, core, order_id=order.id, attempt_id=None, receipt=payment.trans_id,
                          amount=payment.amount, channel="paybill")


def _unmatched(session: Session, payment: PaybillPayment, order: Order | None, why: str) -> str:
    """Money that matches no order we can fund: suspense, and a finding for the operator."""
    if not insert_once(session, PaymentReceived, receipt=payment.trans_id, order_id=order.id if order else None,
                       attempt_id=None, amount=payment.amount, channel="paybill", outcome="suspense"):
        return "duplicate"
    ledger.post(session, kind="suspense", dedupe_key=f"in:{payment.trans_id}", order_id=None,
                lines=[debit(ledger.MPESA_CASH, payment.amount), credit(ledger.SUSPENSE, payment.amount)],
                memo=f"paybill {payment.trans_id}: {why} (account {payment.account[:20]!r})")
    record_finding(session, f"paybill-unmatched:{payment.trans_id}", order_id=order.id if order else None,
                   summary=f"paybill payment {payment.trans_id} of KES {payment.amount:,} to account "
                           f"{payment.account[:20]!r} on {payment.shortcode}: {why}; held in suspense",
                   trans_id=payment.trans_id)
    return "suspense"
