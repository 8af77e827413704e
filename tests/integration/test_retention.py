"""The retention purge (escrow/privacy/retention.py) on a real database: what is past its time is
cleared in bounded batches, a rerun does nothing, what the ledger needs and what is still in use is
kept; the audit log gives up old entries only through the purge's gate, never a young one."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from escrow.db import insert_row
from escrow.findings import FINDING
from escrow.models import (AuditEntry, AuditPurgeGate, InboundCallback, Order, OrderNumbersPurged, Payout, SmsMessage,
                           StatementLine)
from escrow.phone import ERASED
from escrow.privacy.retention import purge
from escrow.privacy.scrub import PURGED_TEXT
from escrow.privacy.settings import RetentionSettings

NOW = datetime.utcnow()
LONG_AGO = NOW - timedelta(days=2000)
BUYER, SELLER = "254712345678", "254722000111"


def days_ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def an_order(session, core, reference: str, state: str, updated_at: datetime) -> int:
    return insert_row(session, Order, reference=reference, state=state, initiated_by="buyer",
                      buyer_key=core.vault.phone_key(BUYER), buyer_sealed=core.vault.seal(BUYER),
                      seller_key=core.vault.phone_key(SELLER), seller_sealed=core.vault.seal(SELLER), item="Radio",
                      price=1500, fee=22, fee_payer="seller", charge=1500, payout=1478, created_at=updated_at,
                      updated_at=updated_at)


def an_sms(session, core, order_id, created_at: datetime, status: str = "delivered") -> int:
    return insert_row(session, SmsMessage, order_id=order_id, recipient_key=core.vault.phone_key(BUYER),
                      recipient_sealed=core.vault.seal(BUYER), kind="code_to_buyer", language="en",
                      body_redacted="Zemi: code ******", body_sealed=core.vault.seal("Zemi: code 123456"),
                      status=status, created_at=created_at, updated_at=created_at)


def a_callback(session, core, received_at: datetime, status: str = "applied", source: str = "stk") -> int:
    body = '{"PhoneNumber": 254712345678}'
    return insert_row(session, InboundCallback, source=source, body=body.replace("254712345678", "0712***678"),
                      body_sealed=core.vault.seal(body) if source != FINDING else None, status=status,
                      received_at=received_at)


def an_audit_entry(session, at: datetime, action: str = "signed_in") -> int:
    return session.execute(insert(AuditEntry).values(at=at, operator="alice", role="agent", action=action)
                           .returning(AuditEntry.id)).scalar_one()


@pytest.fixture
def stored(database, core):
    """Rows on both sides of every cutoff (defaults: SMS 90 d, callbacks 180 d, numbers 365 d, audit 1825 d)."""
    ids = {}
    with database.transaction() as session:
        ids["old_final"] = an_order(session, core, "10000001", "paid_out", days_ago(400))
        ids["new_final"] = an_order(session, core, "10000002", "paid_out", days_ago(10))
        ids["old_open"] = an_order(session, core, "10000003", "disputed", days_ago(400))
        ids["payout"] = insert_row(session, Payout, order_id=ids["old_final"], purpose="payout",
                                   recipient_sealed=core.vault.seal(SELLER), amount=1478, status="succeeded",
                                   originator_conversation_id="oc-1", receipt="SG632NMUAB")
        ids["line"] = insert_row(session, StatementLine, shortcode="600000", receipt="SG632NMUAB", kind="B2C",
                                 at=days_ago(400), amount=-1478, party_masked="0722***111",
                                 party_sealed=core.vault.seal(SELLER), status="matched")
        ids["sms_old"] = an_sms(session, core, ids["old_final"], days_ago(100))
        ids["sms_old_no_order"] = an_sms(session, core, None, days_ago(100))
        ids["sms_old_open_order"] = an_sms(session, core, ids["old_open"], days_ago(100))
        ids["sms_old_queued"] = an_sms(session, core, None, days_ago(100), status="queued")
        ids["sms_new"] = an_sms(session, core, ids["new_final"], days_ago(10))
        ids["cb_old"] = a_callback(session, core, days_ago(200))
        ids["cb_old_unprocessed"] = a_callback(session, core, days_ago(200), status="received")
        ids["cb_old_finding"] = a_callback(session, core, days_ago(200), status="open", source=FINDING)
        ids["cb_new"] = a_callback(session, core, days_ago(10))
        ids["audit_old"] = an_audit_entry(session, days_ago(2000))
        ids["audit_kept"] = an_audit_entry(session, days_ago(100))
    return ids


def get(database, model, row_id):
    with database.transaction() as session:
        row = session.get(model, row_id)
        session.expunge(row)
        return row


def test_the_purge_clears_what_is_past_its_time_and_keeps_the_rest(database, core, stored):
    settings = RetentionSettings(batch=2)   # several batches per step
    assert purge(database, core, settings, dry_run=True) == purge(database, core, settings)
    vault = core.vault

    for kept in ("sms_old_open_order", "sms_old_queued", "sms_new"):
        message = get(database, SmsMessage, stored[kept])
        assert vault.unseal(message.body_sealed) == "Zemi: code 123456", kept
    for purged in ("sms_old", "sms_old_no_order"):
        message = get(database, SmsMessage, stored[purged])
        assert (vault.unseal(message.body_sealed), message.body_redacted) == ("", PURGED_TEXT), purged
        assert vault.unseal(message.recipient_sealed) == ERASED

    old = get(database, InboundCallback, stored["cb_old"])
    assert (old.body, old.body_sealed, old.status) == ("", None, "applied")
    for kept in ("cb_old_unprocessed", "cb_new"):
        assert "254712345678" in vault.unseal(get(database, InboundCallback, stored[kept]).body_sealed)
    assert get(database, InboundCallback, stored["cb_old_finding"]).body == '{"PhoneNumber": 0712***678}'

    final = get(database, Order, stored["old_final"])
    assert vault.unseal(final.buyer_sealed) == vault.unseal(final.seller_sealed) == ERASED
    assert final.buyer_key == vault.phone_key(BUYER), "the keyed hash stays: a person still finds their orders"
    assert (final.state, final.charge, final.payout, final.reference) == ("paid_out", 1500, 1478, "10000001")
    payout = get(database, Payout, stored["payout"])
    assert (vault.unseal(payout.recipient_sealed), payout.amount, payout.receipt) == (ERASED, 1478, "SG632NMUAB")
    line = get(database, StatementLine, stored["line"])
    assert (line.party_sealed, line.party_masked, line.amount, line.receipt) == (None, None, -1478, "SG632NMUAB")
    for kept in ("new_final", "old_open"):
        assert vault.unseal(get(database, Order, stored[kept]).buyer_sealed) == BUYER

    with database.transaction() as session:
        audit = {row.id: row.action for row in session.scalars(select(AuditEntry))}
        purged_orders = list(session.scalars(select(OrderNumbersPurged.order_id)))
    assert stored["audit_old"] not in audit and stored["audit_kept"] in audit
    assert list(audit.values()).count("audit_purged") == 1, "the purge of audit entries is itself audited"
    assert purged_orders == [stored["old_final"]]


def test_a_second_purge_finds_nothing_left(database, core, stored):
    first = purge(database, core, RetentionSettings())
    assert first == {"sms": 2, "callbacks": 1, "numbers": 1, "verifications": 0, "code_attempts": 0, "audit": 1}
    assert sum(purge(database, core, RetentionSettings()).values()) == 0
    assert sum(purge(database, core, RetentionSettings(), dry_run=True).values()) == 0


def test_the_audit_log_refuses_any_delete_but_the_purges_and_every_update(database, stored):
    old, young = stored["audit_old"], stored["audit_kept"]
    with pytest.raises(DBAPIError):
        with database.transaction() as session:     # an old entry, but the gate is shut
            session.execute(delete(AuditEntry).where(AuditEntry.id == old))
    with pytest.raises(DBAPIError):
        with database.transaction() as session:     # the gate open, but the entry younger than 90 days
            recent = an_audit_entry(session, days_ago(30))
            insert_row(session, AuditPurgeGate, id=1, purge_before=NOW)
            session.execute(delete(AuditEntry).where(AuditEntry.id == recent))
    with pytest.raises(DBAPIError):
        with database.transaction() as session:     # the gate open: still no update, of any entry
            insert_row(session, AuditPurgeGate, id=1, purge_before=NOW)
            session.execute(update(AuditEntry).where(AuditEntry.id == old).values(reason="edited"))
    with pytest.raises(DBAPIError):
        with database.transaction() as session:     # the gate open before the entry: refused
            insert_row(session, AuditPurgeGate, id=1, purge_before=days_ago(3000))
            session.execute(delete(AuditEntry).where(AuditEntry.id == old))
    with database.transaction() as session:         # what the purge does: allowed
        insert_row(session, AuditPurgeGate, id=1, purge_before=days_ago(1000))
        assert session.execute(delete(AuditEntry).where(AuditEntry.id == old)).rowcount == 1
        session.execute(delete(AuditPurgeGate))
    assert get(database, AuditEntry, young).action == "signed_in"


def test_retention_settings_refuse_an_audit_time_under_the_floor():
    from escrow.errors import ConfigError

    assert RetentionSettings.from_mapping({"RETENTION_SMS_DAYS": "30"}).sms_days == 30
    with pytest.raises(ConfigError, match="RETENTION_AUDIT_DAYS"):
        RetentionSettings.from_mapping({"RETENTION_AUDIT_DAYS": "30"})


def test_every_retention_setting_and_its_default_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    defaults = RetentionSettings()
    for name, value in (("RETENTION_SMS_DAYS", defaults.sms_days), ("RETENTION_CALLBACK_DAYS", defaults.callback_days),
                        ("RETENTION_NUMBERS_DAYS", defaults.numbers_days), ("RETENTION_AUDIT_DAYS", defaults.audit_days)):
        assert f"| `{name}` | `{value}` |" in readme, name
    assert "| `RETENTION_BATCH`, `RETENTION_EVERY_SECONDS` | `500`, `3600` |" in readme
