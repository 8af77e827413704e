"""Operator views as lines of text: an order's timeline, the SMS log, the ledger check."""
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.context import Core
from escrow.db import db_now
from escrow.errors import EscrowError, OrderNotFound
from escrow.findings import FINDING
from escrow.inbox import raw_body
from escrow.models import InboundCallback, JournalEntry, Order, OrderEvent, Payout, Posting, SmsMessage
from escrow.phone import mask
from escrow.sms_events import INBOUND_MARKER_SOURCE
from escrow.states import HOLDING, State

HELD_STATES = {state.value for state in HOLDING}
EAT = timedelta(hours=3)   # East Africa Time, UTC+3 all year: what operators read, labelled


def eat_text(moment, seconds: bool = True) -> str:
    """A naive-UTC time from the database as Nairobi time, labelled EAT."""
    if moment is None:
        return "-"
    return f"{moment + EAT:%Y-%m-%d %H:%M{':%S' if seconds else ''}} EAT"


def _number_shower(core: Core, reveal: bool):
    """Opens a sealed number for display: masked unless an operator asked to `reveal` it."""
    return core.vault.unseal if reveal else (lambda sealed: mask(core.vault.unseal(sealed)))


def order_report(session: Session, core: Core, reference: str, *, reveal: bool = False) -> list[str]:
    """`<reference> <state>` first, then amounts, parties (masked unless `reveal`), transfers, timeline."""
    order = session.scalar(select(Order).where(Order.reference == reference.strip()))
    if order is None:
        raise OrderNotFound(reference)
    show = _number_shower(core, reveal)
    lines = [f"{order.reference} {order.state}",
             f"item: {order.item}",
             f"price: KES {order.price:,}  fee: KES {order.fee:,} ({order.fee_payer} pays)  "
             f"charge: KES {order.charge:,}  payout: KES {order.payout:,}",
             f"buyer: {show(order.buyer_sealed)}  seller: {show(order.seller_sealed)}",
             f"held in escrow: KES {ledger.held_for(session, order.id):,}"]
    for payout in session.scalars(select(Payout).where(Payout.order_id == order.id).order_by(Payout.id)):
        lines.append(f"{payout.purpose}: KES {payout.amount:,} {payout.status} receipt={payout.receipt or '-'}")
    lines.append("timeline:")
    for event in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)):
        lines.append(f"  {eat_text(event.at)} {event.event}: {event.from_state or '-'} -> "
                     f"{event.to_state} by {event.actor}{' (' + event.reason + ')' if event.reason else ''}")
    return lines


# Orders an operator has to decide: a dispute, or money that matched nothing the order asked for.
ATTENTION = (State.DISPUTED.value, State.NEEDS_REVIEW.value)


def order_list_report(session: Session, core: Core, *, states: tuple[str, ...] = (), number: str | None = None,
                      limit: int = 20, reveal: bool = False) -> list[str]:
    """The most recently changed orders, newest first, a line each: reference, state, charge, time of the
    last change, item, parties (masked unless `reveal`) and the dispute reason if any."""
    query = select(Order).order_by(Order.updated_at.desc(), Order.id.desc()).limit(limit)
    if states:
        query = query.where(Order.state.in_(states))
    if number:
        key = core.vault.phone_key(number)
        query = query.where((Order.buyer_key == key) | (Order.seller_key == key))
    show = _number_shower(core, reveal)
    lines = []
    for order in session.scalars(query):
        dispute = (f" dispute={order.dispute_reason}" if order.state == State.DISPUTED and order.dispute_reason
                   else "")
        lines.append(f"{order.reference} {order.state:<16} KES {order.charge:>9,} {eat_text(order.updated_at, seconds=False)} "
                     f"buyer={show(order.buyer_sealed)} seller={show(order.seller_sealed)} "
                     f"item={order.item!r}{dispute}")
    return lines


# Stored callbacks that had no money effect and may want a person's look.
CALLBACKS_FOR_REVIEW = ("malformed", "rejected", "unmatched", "orphan", "inconclusive", "contradicted",
                        "await_stmt")   # held for the statement (escrow/confirmation.py): no effect yet
_NOT_CALLBACKS = (FINDING, INBOUND_MARKER_SOURCE)  # our own rows in the same table


def callback_list_report(session: Session, *, statuses: tuple[str, ...] = (), sources: tuple[str, ...] = (),
                         limit: int = 20) -> list[str]:
    """Provider callbacks as stored, newest first, a line each: id, time, source, status, source
    address and note (never the body: `callback_report` shows one)."""
    query = (select(InboundCallback).where(InboundCallback.source.not_in(_NOT_CALLBACKS))
             .order_by(InboundCallback.id.desc()).limit(limit))
    if statuses:
        query = query.where(InboundCallback.status.in_(statuses))
    if sources:
        query = query.where(InboundCallback.source.in_(sources))
    return [f"#{row.id} {eat_text(row.received_at)} {row.source:<16} {row.status:<12} "
            f"from={row.remote_addr or '-'} {row.note or ''}".rstrip() for row in session.scalars(query)]


def callback_report(session: Session, core: Core, callback_id: int, *, reveal: bool = False) -> list[str]:
    """One stored callback: its line, then its body with numbers masked and names blanked, or as it
    arrived if `reveal`."""
    row = session.scalar(select(InboundCallback).where(InboundCallback.id == callback_id,
                                                       InboundCallback.source.not_in(_NOT_CALLBACKS)))
    if row is None:
        raise EscrowError(f"no stored callback #{callback_id}")
    return [f"#{row.id} {eat_text(row.received_at)} {row.source} {row.status} from={row.remote_addr or '-'}",
            f"note: {row.note or '-'}",
            raw_body(core.vault, row.body, row.body_sealed) if reveal else row.body]


def sms_report(session: Session, core: Core, *, to: str | None = None, reveal: bool = False) -> list[str]:
    """Every SMS sent or recorded, newest last; codes always redacted; numbers masked unless `reveal`."""
    query = select(SmsMessage).order_by(SmsMessage.id)
    if to:
        query = query.where(SmsMessage.recipient_key == core.vault.phone_key(to))
    lines = []
    for message in session.scalars(query):
        number = core.vault.unseal(message.recipient_sealed)
        lines.append(f"#{message.id} {eat_text(message.created_at)} {message.status:<9} "
                     f"{number if reveal else mask(number)} [{message.kind}] {message.body_redacted}")
    return lines


# Not (yet) known to have reached the handset. 'recorded' (the console backend) counts as delivered.
UNDELIVERED = ("queued", "sending", "sent", "failed", "undelivered")


def undelivered_sms_report(session: Session, core: Core, *, older_than_minutes: int = 30, to: str | None = None,
                           reveal: bool = False) -> list[str]:
    """SMS created more than `older_than_minutes` ago and still not delivered, oldest first: the
    stuck ones (never sent, no delivery report, or refused). Codes redacted; numbers masked unless `reveal`."""
    now = db_now(session)
    query = (select(SmsMessage).where(SmsMessage.status.in_(UNDELIVERED),
                                      SmsMessage.created_at <= now - timedelta(minutes=older_than_minutes))
             .order_by(SmsMessage.created_at, SmsMessage.id))
    if to:
        query = query.where(SmsMessage.recipient_key == core.vault.phone_key(to))
    lines = []
    for message in session.scalars(query):
        number = core.vault.unseal(message.recipient_sealed)
        age = int((now - message.created_at).total_seconds() // 60)
        lines.append(f"#{message.id} {eat_text(message.created_at)} {message.status:<11} {age} min "
                     f"attempts={message.attempts} provider={message.provider_status or '-'} "
                     f"{number if reveal else mask(number)} [{message.kind}] {message.body_redacted}")
    return lines


def ledger_findings(session: Session) -> tuple[list[str], list[str]]:
    """(violations, notes). Any violation means the ledger cannot be trusted."""
    violations = _unbalanced_entries(session) + _nonzero_total(session) + _held_mismatches(session)
    violations += _double_transfers(session)
    notes = [f"balance {account}: {ledger.balance(session, account):,}" for account in ledger.ACCOUNTS]
    suspense = ledger.balance(session, ledger.SUSPENSE)
    if suspense:
        notes.append(f"suspense holds KES {-suspense:,}: payments that matched nothing, awaiting review")
    return violations, notes


def _unbalanced_entries(session: Session) -> list[str]:
    rows = session.execute(select(Posting.entry_id, func.sum(Posting.amount)).group_by(Posting.entry_id)
                           .having(func.sum(Posting.amount) != 0)).all()
    empty = session.scalars(select(JournalEntry.id).where(~JournalEntry.id.in_(select(Posting.entry_id)))).all()
    return [f"entry {entry} does not balance (off by {total})" for entry, total in rows] + \
        [f"entry {entry} has no postings" for entry in empty]


def _nonzero_total(session: Session) -> list[str]:
    total = session.scalar(select(func.coalesce(func.sum(Posting.amount), 0)))
    return [f"sum of all balances is {total}, not 0"] if total else []


def _held_mismatches(session: Session) -> list[str]:
    problems = []
    for order in session.scalars(select(Order)):
        held = ledger.held_for(session, order.id)
        expected = order.charge if order.state in HELD_STATES else 0
        if held != expected:
            problems.append(f"order {order.reference} ({order.state}) holds {held}, expected {expected}")
    return problems


def _double_transfers(session: Session) -> list[str]:
    rows = session.execute(select(Payout.order_id, Payout.purpose, func.count()).where(Payout.status == "succeeded")
                           .where(Payout.purpose.in_(("payout", "refund")))
                           .group_by(Payout.order_id, Payout.purpose).having(func.count() > 1)).all()
    return [f"order id {order_id} has {count} successful {purpose}s" for order_id, purpose, count in rows]
