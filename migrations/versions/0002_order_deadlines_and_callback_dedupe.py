"""order deadlines and callback dedupe

Deadlines for the dispatch and inspection timers, the dispute reason, and a unique key on
stored callbacks for providers that give their own message id (AT inbound SMS).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:02:49.534338
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inbound_callbacks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=80), nullable=True))
        batch_op.create_index('uq_inbound_callbacks_dedupe_key', ['dedupe_key'], unique=True)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatch_by', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('release_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('dispute_reason', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('code_failures_total', sa.Integer(), server_default='0', nullable=False))



def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('code_failures_total')
        batch_op.drop_column('dispute_reason')
        batch_op.drop_column('release_at')
        batch_op.drop_column('dispatch_by')

    with op.batch_alter_table('inbound_callbacks', schema=None) as batch_op:
        batch_op.drop_index('uq_inbound_callbacks_dedupe_key')
        batch_op.drop_column('dedupe_key')

