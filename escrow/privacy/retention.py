"""The retention purge: personal data past its time, in bounded batches, safe to repeat.

Each step picks at most `batch` rows still holding the data and clears it in one transaction; a
row already cleared is never picked again, so an interrupted or repeated run only does what is left.
Nothing the ledger needs is touched: orders keep amounts, references and states; payments, payouts,
receipts, journal entries and postings are never changed (their tables are not even written, except
the sealed recipient number of a payout).

- sms:        texts (sealed and readable copies) and the sealed recipient, RETENTION_SMS_DAYS after the
              message was written, once sent or failed and its order (if any) is final.
- callbacks:  provider callback bodies (sealed and review copies), RETENTION_CALLBACK_DAYS after they
              arrived, once settled (reconcile no longer reads them); findings are kept.
- numbers:    the parties' sealed numbers of an order RETENTION_NUMBERS_DAYS after it became final
              (orders, its payouts, SMS, statement lines, payment link); the keyed hashes stay, so a
              person still finds their own orders and an operator finds them by the number.
- verifications, code attempts: API phone verifications a day after they expired; delivery-code
              attempts after RETENTION_NUMBERS_DAYS.
- audit:      audit entries older than RETENTION_AUDIT_DAYS, through the gate the audit_log trigger
              checks (migration 0014), and never one younger than 90 days; the purge is itself audited.
"""
from collections import Counter
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from escrow import audit
from escrow.audit import Actor
from escrow.context import Core
from escrow.db import Database, ago, db_now, insert_row
from escrow.findings import FINDING
from escrow.models import (ApiVerification, AuditEntry, AuditPurgeGate, CodeAttempt, InboundCallback, Order,
                           OrderNumbersPurged, PaymentLink, PaymentReceived, Payout, SmsMessage, StatementLine)
from escrow.phone import ERASED
from escrow.privacy.scrub import IN_FLIGHT, PURGED_TEXT, STILL_PROCESSING
from escrow.privacy.settings import RetentionSettings
from escrow.sms_events import INBOUND_MARKER_SOURCE
from escrow.states import TERMINAL

DAY = 86_400
RETENTION = Actor("retention", "system")
_FINAL = [state.value for state in TERMINAL]


def purge(db: Database, core: Core, settings: RetentionSettings, *, dry_run: bool = False,
          max_batches: int | None = None) -> Counter:
    """Every step until nothing is left (or `max_batches` per step); counts of rows per step.
    With `dry_run`, only counts what would be purged now."""
    report = Counter()
    for name, (candidates, clear) in STEPS.items():
        batches = 0
        while True:
            with db.transaction() as session:
                query = candidates(session, settings)
                if dry_run:
                    report[name] += session.scalar(select(func.count()).select_from(query.subquery()))
                    break
                ids = list(session.scalars(query.limit(settings.batch)))
                if ids:
                    clear(session, core, ids)
            report[name] += len(ids)
            batches += 1
            if len(ids) < settings.batch or (max_batches and batches >= max_batches):
                break
    return report


# --- each step: (the rows still holding the data past their time, how to clear a batch of them) ---
def _sms_candidates(session: Session, settings: RetentionSettings):
    order_final = select(Order.id).where(Order.id == SmsMessage.order_id, Order.state.in_(_FINAL)).exists()
    return (select(SmsMessage.id).where(SmsMessage.created_at < ago(settings.sms_days * DAY),
                                        SmsMessage.status.not_in(IN_FLIGHT), SmsMessage.body_redacted != PURGED_TEXT,
                                        or_(SmsMessage.order_id.is_(None), order_final))
            .order_by(SmsMessage.id))


def _clear_sms(session: Session, core: Core, ids: list[int]) -> None:
    session.execute(update(SmsMessage).where(SmsMessage.id.in_(ids)).values(
        body_sealed=core.vault.seal(""), body_redacted=PURGED_TEXT, recipient_sealed=core.vault.seal(ERASED)))


def _callback_candidates(session: Session, settings: RetentionSettings):
    return (select(InboundCallback.id).where(InboundCallback.received_at < ago(settings.callback_days * DAY),
                                             InboundCallback.source.not_in([FINDING, INBOUND_MARKER_SOURCE]),
                                             InboundCallback.status.not_in(STILL_PROCESSING),
                                             or_(InboundCallback.body_sealed.is_not(None), InboundCallback.body != ""))
            .order_by(InboundCallback.id))


def _clear_callbacks(session: Session, core: Core, ids: list[int]) -> None:
    session.execute(update(InboundCallback).where(InboundCallback.id.in_(ids)).values(body="", body_sealed=None))


def _numbers_candidates(session: Session, settings: RetentionSettings):
    done = select(OrderNumbersPurged.order_id).where(OrderNumbersPurged.order_id == Order.id).exists()
    return (select(Order.id).where(Order.state.in_(_FINAL), Order.updated_at < ago(settings.numbers_days * DAY),
                                   ~done).order_by(Order.id))


def _clear_numbers(session: Session, core: Core, ids: list[int]) -> None:
    erased = core.vault.seal(ERASED)
    session.execute(update(Order).where(Order.id.in_(ids)).values(buyer_sealed=erased, seller_sealed=erased))
    session.execute(update(Payout).where(Payout.order_id.in_(ids)).values(recipient_sealed=erased))
    session.execute(update(PaymentLink).where(PaymentLink.order_id.in_(ids)).values(seller_sealed=erased))
    session.execute(update(SmsMessage).where(SmsMessage.order_id.in_(ids), SmsMessage.body_redacted != PURGED_TEXT,
                                             SmsMessage.status.not_in(IN_FLIGHT))
                    .values(body_sealed=core.vault.seal(""), body_redacted=PURGED_TEXT, recipient_sealed=erased))
    receipts = (select(PaymentReceived.receipt).where(PaymentReceived.order_id.in_(ids))
                .union(select(Payout.receipt).where(Payout.order_id.in_(ids), Payout.receipt.is_not(None))))
    session.execute(update(StatementLine).where(StatementLine.receipt.in_(receipts))
                    .values(party_sealed=None, party_masked=None))
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite   # two workers: once each
    session.execute(dialect.insert(OrderNumbersPurged).on_conflict_do_nothing(),
                    [{"order_id": order_id} for order_id in ids])   # one executemany


def _verification_candidates(session: Session, settings: RetentionSettings):
    expired = func.coalesce(ApiVerification.token_expires_at, ApiVerification.expires_at)
    return select(ApiVerification.id).where(expired < ago(DAY)).order_by(ApiVerification.id)


def _clear_verifications(session: Session, core: Core, ids: list) -> None:
    session.execute(delete(ApiVerification).where(ApiVerification.id.in_(ids)))


def _attempt_candidates(session: Session, settings: RetentionSettings):
    return select(CodeAttempt.id).where(CodeAttempt.at < ago(settings.numbers_days * DAY)).order_by(CodeAttempt.id)


def _clear_attempts(session: Session, core: Core, ids: list[int]) -> None:
    session.execute(delete(CodeAttempt).where(CodeAttempt.id.in_(ids)))


def _audit_candidates(session: Session, settings: RetentionSettings):
    return select(AuditEntry.id).where(AuditEntry.at < ago(settings.audit_days * DAY)).order_by(AuditEntry.id)


def _clear_audit(session: Session, core: Core, ids: list[int]) -> None:
    """Open the gate, delete, close it again: all in this one transaction, so no other transaction
    ever sees the gate open. The trigger checks each row against the gate and the 90-day floor."""
    before = session.scalar(select(func.max(AuditEntry.at)).where(AuditEntry.id.in_(ids))) + timedelta(microseconds=1)
    insert_row(session, AuditPurgeGate, id=1, purge_before=before)
    deleted = session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids))).rowcount
    session.execute(delete(AuditPurgeGate))
    audit.record(session, RETENTION, "audit_purged", target=f"{deleted} entries",
                 after={"entries": deleted, "written_before": before, "at": db_now(session)})


STEPS = {
    "sms": (_sms_candidates, _clear_sms),
    "callbacks": (_callback_candidates, _clear_callbacks),
    "numbers": (_numbers_candidates, _clear_numbers),
    "verifications": (_verification_candidates, _clear_verifications),
    "code_attempts": (_attempt_candidates, _clear_attempts),
    "audit": (_audit_candidates, _clear_audit),
}
