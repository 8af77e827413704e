"""What erasing one number does to the database, table by table, in the caller's transaction.

Kept: orders (amounts, references, states, items), their events, payments, payouts' receipts and
amounts, journal entries and postings, statement lines' receipts and amounts. Made unreadable: every
sealed copy of the number (replaced by a sealed `ERASED`), its keyed hash (replaced by the tombstone
`ERASED_KEY`, which no number hashes to, so the number finds nothing and dials in as a new caller),
SMS texts to it, the number inside texts to the other party, callback bodies naming it, its
profile, code attempts and API verifications.
"""
import re
from collections import Counter

from sqlalchemy import String, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from escrow.context import Core
from escrow.db import utcnow
from escrow.findings import FINDING
from escrow.inbox import raw_body
from escrow.models import (ApiVerification, Base, CodeAttempt, InboundCallback, Order, PaymentAttempt,
                           PaymentLink, PaymentReceived, Payout, Profile, SmsMessage, StatementLine)
from escrow.phone import ERASED, ERASED_SHOWN, mask
from escrow.states import TERMINAL

ERASED_KEY = "erased"          # what a keyed-hash column holds once its number was erased
PURGED_TEXT = "(purged)"       # what an SMS's readable copy holds once its text was purged
IN_FLIGHT = ("queued", "sending")
STILL_PROCESSING = ("received", "orphan", "unconfirmed")   # callbacks reconcile may still read
# Columns handled above: the generic sweep at the end leaves them alone.
_HANDLED = {("orders", "buyer_key"), ("orders", "seller_key"), ("sms_messages", "recipient_key"),
            ("profiles", "phone_key"), ("code_attempts", "caller_key"), ("api_verifications", "phone_key"),
            ("payment_links", "seller_key"), ("erasure_requests", "phone_key")}


def number_pattern(number: str) -> re.Pattern:
    """The number in any form people or providers write it: 2547.., +2547.., %2B2547.., 07.."""
    return re.compile(rf"(?<![0-9])(?:(?:\+|%2B)?254|0){re.escape(number[3:])}(?![0-9])")


def scrub_number(session: Session, core: Core, number: str) -> Counter:
    """Make `number` (canonical 2547...) unreadable everywhere in the database; counts per table."""
    vault, key, masked = core.vault, core.vault.phone_key(number), mask(number)
    pattern, erased = number_pattern(number), vault.seal(ERASED)
    counts = Counter()
    final = [state.value for state in TERMINAL]   # an order made meanwhile keeps its parties (erasure.py re-checks)
    order_ids = list(session.scalars(select(Order.id).where(or_(Order.buyer_key == key, Order.seller_key == key),
                                                            Order.state.in_(final))))
    for key_column, sealed_column in ((Order.buyer_key, "buyer_sealed"), (Order.seller_key, "seller_sealed")):
        counts["orders"] += session.execute(update(Order).where(key_column == key, Order.state.in_(final)).values(
            {key_column.key: ERASED_KEY, sealed_column: erased})).rowcount
    for payout in session.scalars(select(Payout).where(Payout.order_id.in_(order_ids))):
        if vault.unseal(payout.recipient_sealed) == number:
            payout.recipient_sealed = erased
            counts["payouts"] += 1
    counts["payment_links"] += session.execute(update(PaymentLink).where(PaymentLink.seller_key == key).values(
        seller_key=ERASED_KEY, seller_sealed=erased, expires_at=utcnow())).rowcount
    counts["sms_messages"] += _scrub_sms(session, core, key, order_ids, pattern, masked, erased)
    for model, column in ((Profile, Profile.phone_key), (CodeAttempt, CodeAttempt.caller_key),
                          (ApiVerification, ApiVerification.phone_key)):
        counts[model.__tablename__] += session.execute(delete(model).where(column == key)).rowcount
    for line in session.scalars(select(StatementLine).where(StatementLine.party_masked == masked)):
        if line.party_sealed is None or pattern.search(vault.unseal(line.party_sealed)):
            line.party_sealed, line.party_masked = None, None
            counts["statement_lines"] += 1
    counts["inbound_callbacks"] += _scrub_callbacks(session, core, pattern, masked, _money_ids(session, order_ids))
    counts.update(_sweep_other_key_columns(session, key))
    session.flush()
    return +counts


def _scrub_sms(session: Session, core: Core, key: str, order_ids: list[int], pattern, masked: str,
               erased: str) -> int:
    """Texts to the number: purged (and any not yet sent, cancelled). Texts to the other party of its
    orders: the number taken out of both copies."""
    vault = core.vault
    session.execute(update(SmsMessage).where(SmsMessage.recipient_key == key, SmsMessage.status.in_(IN_FLIGHT))
                    .values(status="failed", provider_status="erased", updated_at=utcnow()))
    count = session.execute(update(SmsMessage).where(SmsMessage.recipient_key == key).values(
        recipient_key=ERASED_KEY, recipient_sealed=erased, body_sealed=vault.seal(""),
        body_redacted=PURGED_TEXT)).rowcount
    if order_ids:
        for message in session.scalars(select(SmsMessage).where(SmsMessage.order_id.in_(order_ids),
                                                                 SmsMessage.recipient_key != ERASED_KEY)):
            text = vault.unseal(message.body_sealed)
            if pattern.search(text) or masked in message.body_redacted:
                message.body_sealed = vault.seal(pattern.sub(ERASED_SHOWN, text))
                message.body_redacted = message.body_redacted.replace(masked, ERASED_SHOWN)
                count += 1
    return count


def _money_ids(session: Session, order_ids: list[int]) -> set[str]:
    """What M-Pesa's callbacks on these orders carry that the review copy keeps: receipts, checkout
    and conversation ids (a B2C result's ReceiverPartyPublicName, number and name, is blanked there)."""
    if not order_ids:
        return set()
    queries = (select(PaymentAttempt.checkout_request_id).where(PaymentAttempt.order_id.in_(order_ids)),
               select(PaymentReceived.receipt).where(PaymentReceived.order_id.in_(order_ids)),
               select(Payout.originator_conversation_id).where(Payout.order_id.in_(order_ids)),
               select(Payout.conversation_id).where(Payout.order_id.in_(order_ids)),
               select(Payout.receipt).where(Payout.order_id.in_(order_ids)))
    return {value for query in queries for value in session.scalars(query) if value and len(value) >= 8}


def _scrub_callbacks(session: Session, core: Core, pattern, masked: str, money_ids: set[str]) -> int:
    """Callback bodies naming the number (found by its masked form in the review copy, or by an id of
    its orders' payments and payouts; confirmed in the sealed body): the sealed body dropped, the
    masked form blanked. Ones reconcile may still read are left until they settle (the callback
    retention takes them)."""
    count = 0
    mentions = [InboundCallback.body.contains(masked, autoescape=True)]
    mentions += [InboundCallback.body.contains(value, autoescape=True) for value in sorted(money_ids)]
    rows = session.scalars(select(InboundCallback).where(or_(*mentions),
                                                         InboundCallback.status.not_in(STILL_PROCESSING)))
    for row in rows:
        if row.source != FINDING and row.body_sealed is not None \
                and not pattern.search(raw_body(core.vault, row.body, row.body_sealed)):
            continue   # another number with the same masked form
        row.body, row.body_sealed = row.body.replace(masked, ERASED_SHOWN), None
        count += 1
    return count


def _sweep_other_key_columns(session: Session, key: str) -> Counter:
    """Any other `*_key` column holding the keyed hash (tables added later, such as code unlocks): the
    tombstone put in, or the row deleted where the column must stay unique."""
    counts = Counter()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if (table.name, column.name) in _HANDLED or not column.name.endswith("_key") \
                    or column.name == "dedupe_key" or not isinstance(column.type, String) \
                    or (column.type.length or 0) < 64 or column.primary_key:
                continue   # keyed hashes are named *_key (buyer_key, caller_key, ...) by this schema's habit
            try:
                with session.begin_nested():
                    found = session.execute(update(table).where(column == key).values({column.name: ERASED_KEY}))
            except IntegrityError:
                found = session.execute(delete(table).where(column == key))
            if found.rowcount:
                counts[table.name] += found.rowcount
    return counts

