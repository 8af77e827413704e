"""alerts to the people on call, and operators' unlocks of delivery-code lockouts (issue 15)

`alerts`: one row per kind per clock hour (a unique constraint), written in the same transaction as
the SMS to each ALERT_PHONES number, so an alert is sent at most once an hour whatever runs twice.
`code_unlocks`: an operator lifted a caller's (or one order's) wrong-code lockout; misses before it no
longer count against the caller.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:20:00
"""
from alembic import op
import sqlalchemy as sa

from escrow.db import utcnow


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'alerts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('hour', sa.DateTime(), nullable=False),
        sa.Column('summary', sa.String(300), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('recipients', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('created_at', sa.DateTime(), nullable=False, server_default=utcnow()),
        sa.UniqueConstraint('kind', 'hour', name='uq_alert_kind_hour'),
    )
    op.create_table(
        'code_unlocks',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('caller_key', sa.String(64), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True),
        sa.Column('operator', sa.String(40), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False, server_default=utcnow()),
    )
    op.create_index('ix_code_unlocks_caller_key', 'code_unlocks', ['caller_key'])
    op.create_index('ix_code_attempts_misses', 'code_attempts', ['succeeded', 'at'])
    # the lockouts desk and the overview: open orders whose code locked (few among many orders)
    op.create_index('ix_orders_code_locked', 'orders', ['updated_at'], postgresql_where=sa.text('code_locked'),
                    sqlite_where=sa.text('code_locked'))


def downgrade():
    op.drop_index('ix_orders_code_locked', table_name='orders')
    op.drop_index('ix_code_attempts_misses', table_name='code_attempts')
    op.drop_index('ix_code_unlocks_caller_key', table_name='code_unlocks')
    op.drop_table('code_unlocks')
    op.drop_table('alerts')
