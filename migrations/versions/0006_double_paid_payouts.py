"""double-paid payouts outside the one-live index; stored callbacks not yet processed, indexed

A transfer we had retried (it failed) that M-Pesa later reports paid is recorded as it happened,
with status 'double_paid' and a finding; the index that keeps one live or successful payout (and
one refund) per order leaves it out, so recording the truth never collides with the retry.

Callbacks still 'received' are looked for by every reconcile pass (escrow/intake.py): a partial
index keeps that a look at the few unprocessed rows, not a scan of every callback ever stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

OLD = "status <> 'failed' AND purpose IN ('payout', 'refund')"
NEW = "status NOT IN ('failed', 'double_paid') AND purpose IN ('payout', 'refund')"


def _replace_index(predicate: str) -> None:
    op.drop_index('uq_payouts_one_live', table_name='payouts')
    op.create_index('uq_payouts_one_live', 'payouts', ['order_id', 'purpose'], unique=True,
                    sqlite_where=sa.text(predicate), postgresql_where=sa.text(predicate))


RECEIVED = "status = 'received'"


def upgrade():
    _replace_index(NEW)
    op.create_index('ix_inbound_callbacks_unprocessed', 'inbound_callbacks', ['received_at'],
                    sqlite_where=sa.text(RECEIVED), postgresql_where=sa.text(RECEIVED))


def downgrade():
    op.drop_index('ix_inbound_callbacks_unprocessed', table_name='inbound_callbacks')
    _replace_index(OLD)
