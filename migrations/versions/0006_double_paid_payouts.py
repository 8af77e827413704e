"""double-paid payouts outside the one-live index

A transfer we had retried (it failed) that M-Pesa later reports paid is recorded as it happened,
with status 'double_paid' and a finding; the index that keeps one live or successful payout (and
one refund) per order leaves it out, so recording the truth never collides with the retry.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-02 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD = "status <> 'failed' AND purpose IN ('payout', 'refund')"
NEW = "status NOT IN ('failed', 'double_paid') AND purpose IN ('payout', 'refund')"


def _replace_index(predicate: str) -> None:
    op.drop_index('uq_payouts_one_live', table_name='payouts')
    op.create_index('uq_payouts_one_live', 'payouts', ['order_id', 'purpose'], unique=True,
                    sqlite_where=sa.text(predicate), postgresql_where=sa.text(predicate))


def upgrade():
    _replace_index(NEW)


def downgrade():
    _replace_index(OLD)
