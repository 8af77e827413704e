"""reversals

Money in that must go back to a payer whose number arrived masked or hashed (a paybill payment)
cannot be sent by B2C: it is reversed with Daraja's Reversal on its TransID. One row per TransID
ever (a reversal is never re-sent blind); its result or a status query settles it.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 06:50:00
"""
from alembic import op
import sqlalchemy as sa

from escrow.db import utcnow


revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'reversals',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True),
        sa.Column('trans_id', sa.String(32), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('conversation_id', sa.String(64), nullable=True),
        sa.Column('originator_conversation_id', sa.String(64), nullable=True),
        sa.Column('result_code', sa.String(16), nullable=True),
        sa.Column('result_desc', sa.String(200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False, server_default=utcnow()),
        sa.Column('updated_at', sa.DateTime(), nullable=False, server_default=utcnow()),
    )
    op.create_index('uq_reversals_trans_id', 'reversals', ['trans_id'], unique=True)
    op.create_index('ix_reversals_order_id', 'reversals', ['order_id'])


def downgrade():
    op.drop_index('ix_reversals_order_id', table_name='reversals')
    op.drop_index('uq_reversals_trans_id', table_name='reversals')
    op.drop_table('reversals')
