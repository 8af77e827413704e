"""personal data: erasure requests, numbers purged, and a narrow gate for purging old audit entries

`erasure_requests`: one person's number to erase (escrow/privacy/erasure.py); a pending one holds the
number sealed and its keyed hash, a done one neither. `order_numbers_purged`: orders whose parties'
sealed numbers were purged after RETENTION_NUMBERS_DAYS. Indexes for the retention pass's cutoffs.

The audit log stays append-only (0009): UPDATE is always refused. DELETE is now let through for one
row only when BOTH hold: the row is older than 90 days (a floor written here, whatever a setting
says), and the purge has opened the gate (`audit_purge_gate`, one row written and removed again
inside the purge's own transaction, so it is never visible to anyone else) with a `purge_before`
the row is older than. Any other DELETE is refused as before.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-02 10:30:00
"""
from alembic import op
import sqlalchemy as sa

from escrow.db import utcnow


revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None

AUDIT_FLOOR_DAYS = 90   # no audit entry younger than this can be deleted, gate or not


def upgrade():
    op.create_table(
        'erasure_requests',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('phone_key', sa.String(64), nullable=True),
        sa.Column('phone_sealed', sa.Text(), nullable=True),
        sa.Column('source', sa.String(8), nullable=False),
        sa.Column('actor', sa.String(12), nullable=False),
        sa.Column('reason', sa.String(300), nullable=True),
        sa.Column('status', sa.String(8), nullable=False, server_default='pending'),
        sa.Column('requested_at', sa.DateTime(), nullable=False, server_default=utcnow()),
        sa.Column('done_at', sa.DateTime(), nullable=True),
    )
    op.create_index('uq_erasure_requests_one_pending', 'erasure_requests', ['phone_key'], unique=True,
                    sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.create_table(
        'order_numbers_purged',
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), primary_key=True),
        sa.Column('purged_at', sa.DateTime(), nullable=False, server_default=utcnow()),
    )
    op.create_table(
        'audit_purge_gate',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('purge_before', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_sms_messages_created_at', 'sms_messages', ['created_at'])
    op.create_index('ix_inbound_callbacks_received_at', 'inbound_callbacks', ['received_at'])
    op.create_index('ix_orders_state_updated_at', 'orders', ['state', 'updated_at'])
    _open_audit_log_to_the_purge()


def _open_audit_log_to_the_purge():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE'
                   AND OLD.at < (now() AT TIME ZONE 'utc') - interval '{AUDIT_FLOOR_DAYS} days'
                   AND EXISTS (SELECT 1 FROM audit_purge_gate g WHERE OLD.at < g.purge_before) THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'audit_log is append-only';
            END $$""")
        return
    op.execute("DROP TRIGGER audit_log_no_delete")
    op.execute(f"""
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        WHEN NOT (OLD.at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-{AUDIT_FLOOR_DAYS} days')
                  AND EXISTS (SELECT 1 FROM audit_purge_gate g WHERE OLD.at < g.purge_before))
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")


def _close_audit_log_again():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""")
        return
    op.execute("DROP TRIGGER audit_log_no_delete")
    op.execute("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
               "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


def downgrade():
    _close_audit_log_again()
    op.drop_index('ix_orders_state_updated_at', 'orders')
    op.drop_index('ix_inbound_callbacks_received_at', 'inbound_callbacks')
    op.drop_index('ix_sms_messages_created_at', 'sms_messages')
    op.drop_table('audit_purge_gate')
    op.drop_table('order_numbers_purged')
    op.drop_index('uq_erasure_requests_one_pending', 'erasure_requests')
    op.drop_table('erasure_requests')
