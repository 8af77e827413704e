"""One M-Pesa statement line against our money-in facts (`payments_received`), and the reverse.

Every receipt on the statement matches exactly one money-in fact, and every money-in fact one
statement line:
- by M-Pesa's receipt, ours or the one a late callback noted on an attempt we funded by query;
- otherwise the take answered the order's (account reference's) latest push for that amount sent
  before it: still open, the take is that push's late callback; funded on an STK query's word
  (receipt `QRY-<attempt id>`), the take is that payment, and M-Pesa's real receipt is then noted on
  its attempt; failing that, any unmatched query-funded payment of the order, same amount and
  closest time first. In
  till mode there is no account reference: amount, time and, where the statement gives it in
  clear, the buyer's number; two candidates are a finding, never a guess.
- A line nobody recorded is money we hold without a record: it goes through the callbacks' own
  idempotent path (funding.apply_money_in, paybill.record_paybill_payment), so it funds an order
  that can still take it exactly as a late callback would, else suspense or a return by the
  existing rules, and a finding names it.
- Amounts and numbers that disagree are findings, never corrected; numbers are compared only
  where both sides hold them in clear (STK: the buyer's own phone paid).
"""
import re
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.db import insert_new, utcnow
from escrow.findings import record_finding
from escrow import funding
from escrow.funding import apply_money_in
from escrow.models import Order, PaymentAttempt, PaymentReceived, Payout, StatementLine
from escrow.orders import buyer_phone
from escrow.paybill import PaybillPayment, record_paybill_payment
from escrow.payments import QUERY_RECEIPT_PREFIX
from escrow.phone import mask
from escrow.statement.runs import StatementEntry
from escrow.statement.shortcode_cash import post_movement

QUERY_MATCH_WINDOW = funding.QUERY_MATCH_WINDOW   # a query-funded payment and its line, at most this apart
TILL_MATCH_WINDOW = timedelta(minutes=15)    # without an account reference, time must be close
OPEN_ATTEMPT = ("queued", "sending", "sent", "unknown")
PUSH_SKEW = funding.PUSH_SKEW                # M-Pesa's clock against ours, when finding the push a take answered
AMBIGUOUS = object()   # a line that fits several payments: neither matched nor posted
_CLEAR = re.compile(r"254[17][0-9]{8}")


def clear_party(entry: StatementEntry) -> str | None:
    return entry.party if _CLEAR.fullmatch(entry.party or "") else None


def apply_line(session: Session, core: Core, entry: StatementEntry, run_id: int) -> str:
    """'matched', 'new', 'known' (seen by an earlier window), 'posted' (the shortcode's own movement,
    escrow.statement.shortcode_cash), 'unreadable' or 'finding' (a disagreement recorded)."""
    if entry.problem or entry.at is None or entry.amount is None:
        record_finding(session, f"statement-unreadable:{entry.shortcode}:{entry.receipt}", order_id=None,
                       summary=f"a line of {entry.shortcode}'s M-Pesa statement could not be read "
                               f"({entry.problem}); receipt {entry.receipt!r}", receipt=entry.receipt)
        return "unreadable"
    line_id = _keep_line(session, core, entry, run_id)
    if line_id is None:
        return _seen_before(session, entry)
    if entry.movement == "payout":
        return _match_transfer(session, core, entry, line_id)
    if not _is_payment(entry):   # the shortcode's own movement: a charge, a sweep, a top-up...
        return _set_line(session, line_id, post_movement(session, entry, line_id))
    payment = _payment_for(session, core, entry)
    if payment is AMBIGUOUS:
        return _set_line(session, line_id, "finding")
    if payment is None:
        return _post_new_money(session, core, entry, line_id)
    return _link(session, core, entry, line_id, payment)


def _keep_line(session: Session, core: Core, entry: StatementEntry, run_id: int) -> int | None:
    clear = clear_party(entry)
    return insert_new(session, StatementLine, shortcode=entry.shortcode, receipt=entry.receipt, kind=entry.kind,
                      at=entry.at, amount=entry.amount, account=entry.account or None,
                      party_masked=mask(clear) if clear else (entry.party[:24] or None),
                      party_sealed=core.vault.seal(clear) if clear else None,
                      status="pending" if _is_payment(entry) or entry.movement == "payout" else "other",
                      first_run_id=run_id)


def _is_payment(entry: StatementEntry) -> bool:
    return entry.movement == "payment" and entry.amount > 0


def _seen_before(session: Session, entry: StatementEntry) -> str:
    """A line an overlapping window already handled; it must not have changed since."""
    before = session.scalar(select(StatementLine.amount).where(
        StatementLine.shortcode == entry.shortcode, StatementLine.receipt == entry.receipt,
        StatementLine.kind == entry.kind))
    if before != entry.amount:
        record_finding(session, f"statement-changed:{entry.receipt}", order_id=None,
                       summary=f"statement line {entry.receipt} on {entry.shortcode} showed KES {before} and "
                               f"now shows KES {entry.amount}", receipt=entry.receipt)
        return "finding"
    return "known"


# --- a line we have a record of --------------------------------------------------------------

def _payment_for(session: Session, core: Core, entry: StatementEntry):
    """The money-in fact this line is, None (we never recorded it) or AMBIGUOUS."""
    payment = session.scalar(select(PaymentReceived).where(PaymentReceived.receipt == entry.receipt))
    if payment is None:
        payment = session.scalar(select(PaymentReceived).join(
            PaymentAttempt, PaymentAttempt.id == PaymentReceived.attempt_id).where(
            PaymentAttempt.receipt == entry.receipt))
    if payment is not None:
        return payment
    order = _order_named(session, entry.account)
    push = _paid_push(session, order, entry) if order else None
    if push is not None and push.status in OPEN_ATTEMPT:
        return None   # the push this take answered is still open: new money, settled as its late callback
    if push is not None and (push.receipt or "").startswith(QUERY_RECEIPT_PREFIX):
        funded = session.scalar(select(PaymentReceived).where(
            PaymentReceived.attempt_id == push.id, PaymentReceived.receipt == push.receipt,
            ~exists().where(StatementLine.payment_id == PaymentReceived.id)))
        if funded is not None:
            return funded
    return _query_funded(session, core, entry)


def _paid_push(session: Session, order: Order, entry: StatementEntry) -> PaymentAttempt | None:
    """The STK push a take answered: the order's latest push for that amount sent before it (pushes
    to one phone are at least a minute apart); only if none was, one sent within PUSH_SKEW after it
    (M-Pesa's clock against ours, and its whole seconds). Locked, and read as it stands once the lock
    is ours: a push the reconciler's STK query is funding right now is seen funded, not still open."""
    for latest in (entry.at, entry.at + PUSH_SKEW):
        push = session.scalar(select(PaymentAttempt).where(
            PaymentAttempt.order_id == order.id, PaymentAttempt.amount == entry.amount,
            PaymentAttempt.created_at <= latest)
            .order_by(PaymentAttempt.created_at.desc(), PaymentAttempt.id.desc()).limit(1)
            .with_for_update().execution_options(populate_existing=True))
        if push is not None:
            return push
    return None


def _query_funded(session: Session, core: Core, entry: StatementEntry):
    """The query-funded payment this line is, among pushes sent before it: by order and time, the same
    amount first (a different amount still matches, and is then a finding rather than new money); in
    till mode by amount and time, and only if exactly one fits."""
    window = QUERY_MATCH_WINDOW if entry.account else TILL_MATCH_WINDOW
    query = (select(PaymentReceived).join(Order, Order.id == PaymentReceived.order_id).join(
        PaymentAttempt, PaymentAttempt.id == PaymentReceived.attempt_id).where(
        PaymentReceived.receipt.like(f"{QUERY_RECEIPT_PREFIX}%"), PaymentAttempt.created_at <= entry.at + PUSH_SKEW,
        PaymentReceived.created_at.between(entry.at - window, entry.at + window),
        ~exists().where(StatementLine.payment_id == PaymentReceived.id)))
    if entry.account:
        query = query.where(Order.reference == entry.account.strip().upper())
    else:
        query = query.where(PaymentReceived.amount == entry.amount)
        if clear_party(entry):
            query = query.where(Order.buyer_key == core.vault.phone_key(clear_party(entry)))
    candidates = list(session.scalars(query.limit(5)))
    if len(candidates) > 1 and not entry.account:
        record_finding(session, f"statement-ambiguous:{entry.receipt}", order_id=None,
                       summary=f"statement line {entry.receipt} (KES {entry.amount:,}, no account) fits "
                               f"{len(candidates)} payments funded by STK query; neither matched nor posted",
                       receipt=entry.receipt)
        return AMBIGUOUS
    return min(candidates, key=lambda p: (p.amount != entry.amount, abs(p.created_at - entry.at)), default=None)


def _link(session: Session, core: Core, entry: StatementEntry, line_id: int, payment: PaymentReceived) -> str:
    _note_real_receipt(session, entry, payment)
    problems = _disagreements(session, core, entry, payment)
    session.execute(update(StatementLine).where(StatementLine.id == line_id)
                    .values(payment_id=payment.id, status="finding" if problems else "matched"))
    return "finding" if problems else "matched"


def _note_real_receipt(session: Session, entry: StatementEntry, payment: PaymentReceived) -> None:
    if not payment.receipt.startswith(QUERY_RECEIPT_PREFIX) or payment.attempt_id is None:
        return
    session.execute(update(PaymentAttempt).where(
        PaymentAttempt.id == payment.attempt_id, PaymentAttempt.receipt == payment.receipt)
        .values(receipt=entry.receipt, updated_at=utcnow(),
                result_desc=f"funded by query as {payment.receipt}; statement receipt {entry.receipt}"[:200]))


def _disagreements(session: Session, core: Core, entry: StatementEntry, payment: PaymentReceived) -> int:
    found = 0
    if entry.amount != payment.amount:
        found += 1
        record_finding(
            session, f"statement-amount:{entry.receipt}", order_id=payment.order_id,
            summary=f"M-Pesa's statement shows receipt {entry.receipt} as KES {entry.amount:,}; our books "
                    f"recorded KES {payment.amount:,} ({payment.receipt}, {payment.outcome}); not corrected",
            receipt=entry.receipt, statement_amount=entry.amount, ledger_amount=payment.amount)
    named = _order_named(session, entry.account) if entry.account else None
    if payment.channel == "paybill" and payment.order_id and named is not None and named.id != payment.order_id:
        # a paybill confirmation names its account, but Transaction Status never checked it: one quoting
        # another order's receipt (escrow.funding) is caught here, where M-Pesa says which account it paid
        found += 1
        funded = session.get(Order, payment.order_id)
        record_finding(
            session, f"statement-account:{entry.receipt}", order_id=payment.order_id,
            summary=f"receipt {entry.receipt} (KES {entry.amount:,}) paid account {named.reference} on M-Pesa's "
                    f"statement; our books applied it to order {funded.reference} ({payment.outcome}) from a paybill "
                    f"confirmation: likely another order's payment quoted for this one. Neither release nor refund "
                    f"order {funded.reference} (its money is order {named.reference}'s payment): settle both by hand",
            receipt=entry.receipt, statement_order=named.reference, booked_order=funded.reference)
    clear = clear_party(entry)
    if clear and payment.channel == "stk" and payment.order_id:
        buyer = buyer_phone(core, session.get(Order, payment.order_id))
        if buyer != clear:
            found += 1
            record_finding(
                session, f"statement-number:{entry.receipt}", order_id=payment.order_id,
                summary=f"receipt {entry.receipt} was paid from {mask(clear)} on M-Pesa's statement; the "
                        f"order's buyer is {mask(buyer)}", receipt=entry.receipt)
    return found


# --- a line we have no record of ---------------------------------------------------------------

def _post_new_money(session: Session, core: Core, entry: StatementEntry, line_id: int) -> str:
    order = _order_named(session, entry.account)
    attempt = _paid_push(session, order, entry) if order else None
    if attempt is not None and attempt.status in OPEN_ATTEMPT:
        outcome = _settle_attempt(session, core, attempt, entry)
    else:
        outcome = record_paybill_payment(session, core, PaybillPayment(
            trans_id=entry.receipt, amount=entry.amount, account=entry.account or "", shortcode=entry.shortcode),
            our_shortcode=entry.shortcode)
    payment_id = session.scalar(select(PaymentReceived.id).where(PaymentReceived.receipt == entry.receipt))
    session.execute(update(StatementLine).where(StatementLine.id == line_id)
                    .values(payment_id=payment_id, status="posted"))
    if outcome != "funded":
        record_finding(session, f"statement-new:{entry.receipt}", order_id=order.id if order else None,
                       summary=f"receipt {entry.receipt} (KES {entry.amount:,}, account {entry.account!r}) was on "
                               f"M-Pesa's statement of {entry.shortcode} with no record here; posted: {outcome}",
                       receipt=entry.receipt, outcome=outcome)
    return "new"


def _order_named(session: Session, account: str) -> Order | None:
    reference = (account or "").strip().upper()
    return session.scalar(select(Order).where(Order.reference == reference)) if reference else None


def _settle_attempt(session: Session, core: Core, attempt: PaymentAttempt, entry: StatementEntry) -> str:
    """What a late success callback does to its attempt, with the statement's receipt and amount."""
    won = session.execute(update(PaymentAttempt).where(
        PaymentAttempt.id == attempt.id, PaymentAttempt.status.in_(OPEN_ATTEMPT))
        .values(status="succeeded", result_code="0", receipt=entry.receipt, updated_at=utcnow(),
                result_desc="paid: found on the M-Pesa statement, no callback received")).rowcount
    return apply_money_in(session, core, order_id=attempt.order_id, attempt_id=attempt.id if won else None,
                          receipt=entry.receipt, amount=entry.amount, channel="stk")


# --- money out: a B2C shortcode's statement (the portal export; Pull carries no B2C) ------------

def _match_transfer(session: Session, core: Core, entry: StatementEntry, line_id: int) -> str:
    """A transfer M-Pesa made from a B2C shortcode: ours by receipt, else a finding (one we are
    still unsure of is named with it; nothing is settled from the statement alone)."""
    amount = -entry.amount
    payout = session.scalar(select(Payout).where(Payout.receipt == entry.receipt))
    if payout is not None and payout.amount == amount:
        return _set_line(session, line_id, "matched")
    if payout is not None:
        record_finding(session, f"statement-transfer-amount:{entry.receipt}", order_id=payout.order_id,
                       summary=f"transfer {entry.receipt} went out for KES {amount:,} on M-Pesa's statement; our "
                               f"payout recorded KES {payout.amount:,}", receipt=entry.receipt)
        return _set_line(session, line_id, "finding")
    doubtful = session.scalars(select(Payout).where(
        Payout.status.in_(OPEN_ATTEMPT), Payout.amount == amount,
        Payout.created_at.between(entry.at - QUERY_MATCH_WINDOW, entry.at + QUERY_MATCH_WINDOW))).all()
    if clear_party(entry):
        doubtful = [p for p in doubtful if core.vault.unseal(p.recipient_sealed) == clear_party(entry)]
    names = ", ".join(p.originator_conversation_id for p in doubtful[:3])
    record_finding(session, f"statement-unknown-transfer:{entry.receipt}",
                   order_id=doubtful[0].order_id if len(doubtful) == 1 else None,
                   summary=f"M-Pesa's statement of {entry.shortcode} shows transfer {entry.receipt} of KES {amount:,} "
                           f"that we have no record of" + (f"; it may be our unconfirmed payout {names}" if names else ""),
                   receipt=entry.receipt, amount=amount)
    return _set_line(session, line_id, "finding")


def _set_line(session: Session, line_id: int, status: str) -> str:
    session.execute(update(StatementLine).where(StatementLine.id == line_id).values(status=status))
    return status


# --- the reverse: money in our books that the statement does not show ---------------------------

def missing_from_statement(session: Session, channels: tuple[str, ...], start: datetime,
                           end: datetime) -> list[PaymentReceived]:
    """Money-in facts recorded in [start, end] on these channels that no statement line matched."""
    return list(session.scalars(select(PaymentReceived).where(
        PaymentReceived.channel.in_(channels), PaymentReceived.created_at.between(start, end),
        ~exists().where(StatementLine.payment_id == PaymentReceived.id),
        ~exists().where(StatementLine.receipt == PaymentReceived.receipt))
        .order_by(PaymentReceived.id)))


PAID_OUT = ("succeeded", "double_paid")
RESULT_LAG = timedelta(minutes=10)   # a transfer's result reaches us after M-Pesa completed it


def payouts_missing(session: Session, shortcode: str, start: datetime, end: datetime) -> list[Payout]:
    """Transfers M-Pesa's result said it paid, recorded in [start + RESULT_LAG, end], that no line of
    the B2C shortcode's statement shows (every window's lines count, not only this one's)."""
    return list(session.scalars(select(Payout).where(
        Payout.status.in_(PAID_OUT), Payout.receipt.is_not(None),
        Payout.updated_at.between(start + RESULT_LAG, end),
        ~exists().where(StatementLine.shortcode == shortcode, StatementLine.receipt == Payout.receipt))
        .order_by(Payout.id)))


def report_missing_payout(session: Session, payout: Payout, shortcode: str) -> bool:
    return record_finding(
        session, f"statement-payout-missing:{payout.receipt}", order_id=payout.order_id,
        summary=f"{payout.purpose} {payout.receipt} (KES {payout.amount:,}) was paid by M-Pesa's result but is not on "
                f"the statement of {shortcode}: money we think went out and may not have",
        receipt=payout.receipt, amount=payout.amount)


def report_missing(session: Session, payment: PaymentReceived, shortcode: str) -> bool:
    return record_finding(
        session, f"statement-missing:{payment.receipt}", order_id=payment.order_id,
        summary=f"receipt {payment.receipt} (KES {payment.amount:,}, {payment.channel}, {payment.outcome}) is in "
                f"our books but not on M-Pesa's statement of {shortcode}: money we think we hold and may not",
        receipt=payment.receipt, amount=payment.amount)
