"""operators, their sessions, approvals, and the append-only audit log (issue 15)

Named operator accounts for the web console (console/), server-side sessions (so one can be ended
and expired by the database's clock), and `audit_log`: every operator action and every reveal of
personal data, refused UPDATE and DELETE by triggers on both databases, as the ledger is (0001).

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02 07:20:00
"""
from alembic import op
import sqlalchemy as sa

from escrow.db import utcnow


revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'operators',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(12), nullable=False, unique=True),
        sa.Column('role', sa.String(8), nullable=False),
        sa.Column('password_hash', sa.String(200), nullable=True),
        sa.Column('totp_sealed', sa.Text(), nullable=True),
        sa.Column('totp_last_step', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('enrol_hash', sa.String(64), nullable=True, unique=True),
        sa.Column('enrol_by', sa.DateTime(), nullable=True),
        sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('disabled', sa.Boolean(), nullable=False, server_default=sa.text('false')),
        sa.Column('created_at', sa.DateTime(), nullable=False, server_default=utcnow()),
        sa.Column('last_login_at', sa.DateTime(), nullable=True),
    )
    op.create_table(
        'operator_sessions',
        sa.Column('id', sa.String(64), primary_key=True),   # sha256 of the cookie's token
        sa.Column('operator_id', sa.Integer(), sa.ForeignKey('operators.id'), nullable=False, index=True),
        sa.Column('csrf', sa.String(64), nullable=False),
        sa.Column('remote_addr', sa.String(64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False, server_default=utcnow()),
        sa.Column('seen_at', sa.DateTime(), nullable=False, server_default=utcnow()),
    )
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('at', sa.DateTime(), nullable=False, server_default=utcnow()),
        sa.Column('operator', sa.String(12), nullable=False),
        sa.Column('role', sa.String(8), nullable=True),
        sa.Column('remote_addr', sa.String(64), nullable=True),
        sa.Column('action', sa.String(32), nullable=False),
        sa.Column('order_reference', sa.String(12), nullable=True),
        sa.Column('target', sa.String(64), nullable=True),
        sa.Column('reason', sa.String(300), nullable=True),
        sa.Column('before', sa.Text(), nullable=True),
        sa.Column('after', sa.Text(), nullable=True),
    )
    op.create_table(
        'approvals',   # maker-checker: a money decision above CONSOLE_APPROVAL_ABOVE waits for a second agent
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('order_reference', sa.String(12), nullable=False, index=True),
        sa.Column('action', sa.String(24), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('maker', sa.String(12), nullable=False),
        sa.Column('status', sa.String(12), nullable=False, server_default='pending'),
        sa.Column('checker', sa.String(12), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False, server_default=utcnow()),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
    )
    op.create_index('uq_approvals_one_pending', 'approvals', ['order_reference'], unique=True,
                    sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_audit_log_order_reference', 'audit_log', ['order_reference'])
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    # the console's order search and overview (keyset paging by id, filters by state and day)
    op.create_index('ix_orders_created_at', 'orders', ['created_at'])
    _guard_audit_log()


def _guard_audit_log():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
                   "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
    op.drop_index('ix_orders_created_at', 'orders')
    op.drop_table('audit_log')
    op.drop_table('approvals')
    op.drop_table('operator_sessions')
    op.drop_table('operators')
