"""What money in does to an order: fund it, or hold it aside so it is never lost."""
from datetime import datetime, timedelta

from sqlalchemy import exists, select, text, update
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.context import Core
from escrow.db import insert_once, later
from escrow.reminders import schedule_reminder
from escrow.delivery import new_code
from escrow.errors import InvalidTransition
from escrow.findings import record_finding
from escrow.ledger import credit, debit
from escrow.models import Order, PaymentAttempt, PaymentReceived, StatementLine
from escrow.notify import order_with_languages, queue_sms_at_commit
from escrow.orders import buyer_phone, seller_phone, transition
from escrow.returns import send_back
from escrow.phone import to_local
from escrow.states import PAYABLE, Event, State
from escrow.money import format_kes

QUERY_RECEIPT_PREFIX = "QRY-"   # escrow.payments.QUERY_RECEIPT_PREFIX (that module imports this one)


def apply_money_in(session: Session, core: Core, *, order_id: int, attempt_id: int | None, receipt: str,
                   amount: int, channel: str, noted_here: bool = False) -> str:
    """Record a receipt once (its uniqueness is the guard), then fund the order, or put the money
    in suspense (wrong amount), or refund it (the order can no longer take it). `noted_here`: the
    caller has just written the receipt on attempt `attempt_id` (payment_attempts.receipt is unique,
    so no other attempt has it: no need to ask)."""
    order = order_with_languages(session, order_id)   # the languages: for the messages funding sends
    if not noted_here and noted_on_an_attempt(session, receipt, attempt_id):
        return "duplicate"
    # Recorded as what it will most likely be (no UPDATE of the outcome after); any other way sets its own.
    likely = "funded" if amount == order.charge and State(order.state) in PAYABLE else "pending"
    if not insert_once(session, PaymentReceived, receipt=receipt, order_id=order_id, attempt_id=attempt_id,
                       amount=amount, channel=channel, outcome=likely):
        return "duplicate"
    if amount != order.charge:
        return _hold_in_suspense(session, order, receipt, amount)
    code, code_columns = new_code(core, order)   # set by the UPDATE that funds the order
    funding = {**code_columns, "dispatch_by": later(core.settings.dispatch_deadline_seconds)}
    if _funded_if_payable(session, order, receipt, funding):
        if likely != "funded":
            _set_outcome(session, receipt, "funded")
        return _fund(session, core, order, receipt, code)
    return _refund_unwanted(session, core, order, receipt, amount, channel)


def noted_on_an_attempt(session: Session, receipt: str, attempt_id: int | None = None) -> bool:
    """Whether M-Pesa's receipt is already noted on another attempt: the real receipt of a payment
    we funded on an STK query's word (recorded as QRY-<attempt>). It is that payment, not new money."""
    query = select(PaymentAttempt.id).where(PaymentAttempt.receipt == receipt)
    if attempt_id is not None:
        query = query.where(PaymentAttempt.id != attempt_id)
    return session.scalar(query.limit(1)) is not None


# --- one payment, two orders (issue 11): what only the statement can tell apart ---------------------
# Transaction Status confirms a paybill TransID, Completed and its amount, never the account it paid;
# an STK query confirms our push was paid, never M-Pesa's receipt. A buyer who paid order A by STK knows
# the real receipt from their SMS, and a paybill confirmation quoting it for order B is "confirmed". So
# while a payment funded on an STK query's word (its real receipt not yet named) and a paybill payment
# known only from Transaction Status could be the same money (same amount, within QUERY_MATCH_WINDOW),
# neither funds a second order: the later one waits for the statement, whose line for the receipt names
# the account (escrow/statement/held.py). Only payments the statement has not matched yet count, so a
# hold lasts until the next statement pass that covers them.
QUERY_MATCH_WINDOW = timedelta(hours=24)     # a query-funded payment and its statement line, at most this apart
PUSH_SKEW = timedelta(seconds=5)             # M-Pesa's clock against ours, and its whole seconds
SETTLED_BY_STATEMENT = ("matched", "posted")  # statement_lines.status of a line that agrees with our record


def _one_at_a_time(session: Session, amount: int) -> None:
    """Each side's check and its funding, for one amount, in turn (PostgreSQL: a transaction-scoped
    advisory lock; SQLite has one writer at a time): a query funding A and a confirmation funding B at
    the same moment must each see the other, not both find nothing."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"zemi:money-in:{amount}"})


def unnamed_query_payments(session: Session, amount: int, quoted_at: datetime) -> list[PaymentReceived]:
    """Payments of this amount funded on an STK query's word (QRY-<attempt>) whose real receipt nothing
    has named yet (no late callback noted it, no statement line matched it), that a receipt quoted at
    `quoted_at` can be: their push was made before it (the money moved after the push), and they were
    funded at most QUERY_MATCH_WINDOW before it."""
    _one_at_a_time(session, amount)
    return list(session.scalars(select(PaymentReceived).join(
        PaymentAttempt, PaymentAttempt.id == PaymentReceived.attempt_id).where(
        PaymentReceived.receipt.like(f"{QUERY_RECEIPT_PREFIX}%"), PaymentAttempt.receipt == PaymentReceived.receipt,
        PaymentReceived.amount == amount, PaymentReceived.created_at >= quoted_at - QUERY_MATCH_WINDOW,
        PaymentAttempt.created_at <= quoted_at + PUSH_SKEW,
        ~exists().where(StatementLine.payment_id == PaymentReceived.id))
        .order_by(PaymentReceived.id).limit(5)))


def unseen_paybill_payments(session: Session, amount: int, pushed_at: datetime) -> list[PaymentReceived]:
    """Paybill payments of this amount recorded after a push made at `pushed_at` (only those can quote
    its receipt), on a confirmation's word (checked by Transaction Status at best), that no statement
    line has matched as they are: none yet, or only one that disagrees with them (a 'finding' line:
    another account, another amount)."""
    _one_at_a_time(session, amount)
    return list(session.scalars(select(PaymentReceived).where(
        PaymentReceived.channel == "paybill", PaymentReceived.attempt_id.is_(None),
        PaymentReceived.amount == amount, PaymentReceived.created_at >= pushed_at - PUSH_SKEW,
        ~exists().where(StatementLine.payment_id == PaymentReceived.id,
                        StatementLine.status.in_(SETTLED_BY_STATEMENT)))
        .order_by(PaymentReceived.id).limit(5)))


def _funded_if_payable(session: Session, order: Order, receipt: str, funding: dict) -> bool:
    """Fund an order still payable; once more if the pay-by timer just moved it (to checking_payment,
    where it is still payable: a payment racing that move must fund it, not be returned). `funding`:
    the columns the same UPDATE sets (the delivery code's hash, the dispatch deadline)."""
    for _ in range(2):
        if State(order.state) not in PAYABLE:
            return False
        if transition(session, order, Event.PAYMENT_RECEIVED, actor="mpesa", reason=f"receipt {receipt}",
                      also=funding):
            return True
        session.refresh(order)
    return False


def _fund(session: Session, core: Core, order: Order, receipt: str, code: str) -> str:
    """The funded order's entry, reminder and messages: written at commit, in one statement
    (escrow/writes.py), since nothing here reads them back."""
    ledger.post_at_commit(session, kind="funding", dedupe_key=f"in:{receipt}", order_id=order.id,
                          lines=[debit(ledger.MPESA_CASH, order.charge), credit(ledger.ESCROW_HELD, order.charge)])
    schedule_reminder(session, core, order, "dispatch", order.dispatch_by)
    common = dict(item=order.item, ref=order.reference)
    queue_sms_at_commit(session, core, phone=buyer_phone(core, order), kind="code_to_buyer", order_id=order.id,
                        charge=f"{order.charge:,}", secret={"code": code}, **common)
    queue_sms_at_commit(session, core, phone=seller_phone(core, order), kind="held_to_seller", order_id=order.id,
                        price=f"{order.price:,}", buyer=to_local(buyer_phone(core, order)), **common)
    return "funded"


def _hold_in_suspense(session: Session, order: Order, receipt: str, amount: int) -> str:
    """Money we did not ask for in that amount: kept in suspense, the order sent for review."""
    ledger.post(session, kind="suspense", dedupe_key=f"in:{receipt}", order_id=order.id,
                lines=[debit(ledger.MPESA_CASH, amount), credit(ledger.SUSPENSE, amount)],
                memo=f"expected {order.charge}, received {amount}")
    _set_outcome(session, receipt, "suspense")
    try:
        moved = transition(session, order, Event.PAYMENT_MISMATCHED, actor="mpesa",
                           reason=f"received {format_kes(amount)}, expected {format_kes(order.charge)}")
    except InvalidTransition:
        moved = False   # already funded or closed
    if not moved:   # no review of the order will show it: an operator must return it
        record_finding(session, f"suspense-wrong-amount:{receipt}", order_id=order.id, receipt=receipt, amount=amount,
                       summary=f"payment {receipt} of KES {amount:,} for order {order.reference}, which expected "
                               f"KES {order.charge:,} and is {order.state}: held in suspense; return it to whoever "
                               f"paid")
    return "suspense"


def _refund_unwanted(session: Session, core: Core, order: Order, receipt: str, amount: int, channel: str) -> str:
    """A payment for an order that is no longer payable (paid twice, expired, cancelled) is owed back:
    returned by B2C or Reversal within the caps, else held with a finding (escrow/returns.py)."""
    ledger.post(session, kind="refund_due", dedupe_key=f"in:{receipt}", order_id=order.id,
                lines=[debit(ledger.MPESA_CASH, amount), credit(ledger.REFUNDS_PAYABLE, amount)],
                memo=f"payment {receipt} arrived in state {order.state}")
    outcome = send_back(session, core, order, receipt=receipt, amount=amount, channel=channel)
    _set_outcome(session, receipt, outcome)
    return outcome


def _set_outcome(session: Session, receipt: str, outcome: str) -> None:
    session.execute(update(PaymentReceived).where(PaymentReceived.receipt == receipt).values(outcome=outcome))
