"""callback leases

A stored callback the worker applies (CALLBACK_APPLY=worker) is claimed first: `leased_until` says
until when one worker has it (no other takes it meanwhile; a worker that died lets it go when the
lease ends). `path_attempt_id` keeps the attempt id an STK callback's own URL carried
(/hooks/stk/<token>/a<id>), which the request knew and the worker otherwise would not.

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-02 10:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inbound_callbacks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leased_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('path_attempt_id', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('inbound_callbacks', schema=None) as batch_op:
        batch_op.drop_column('path_attempt_id')
        batch_op.drop_column('leased_until')
