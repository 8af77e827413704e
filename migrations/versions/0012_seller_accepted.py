"""seller accepted

Money may be released to a seller only once the seller has acted on the order from their own line
(accepted it, marked it sent, entered the code, or asked for the payment). `seller_accepted_at` is
when the seller first accepted or marked it sent; NULL means the seller has not (yet). Orders a
seller created as a payment request need no mark (`initiated_by` says so).

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02 07:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seller_accepted_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('seller_accepted_at')
