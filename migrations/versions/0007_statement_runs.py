"""statement runs and lines, account balances

Statement reconciliation (issue 12): each pass over a window of a shortcode's M-Pesa statement is
recorded in `statement_runs`, and each statement line once in `statement_lines`, with the money-in
fact it matched. Every Account Balance answer is kept in `account_balances`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:40:00
"""
from alembic import op
import sqlalchemy as sa

from escrow.db import utcnow


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'statement_runs',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('shortcode', sa.String(16), nullable=False),
        sa.Column('source', sa.String(8), nullable=False, server_default='api'),
        sa.Column('window_start', sa.DateTime(), nullable=False),
        sa.Column('window_end', sa.DateTime(), nullable=False),
        sa.Column('lines_seen', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('matched', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('new', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('missing', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('findings', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('status', sa.String(12), nullable=False, server_default='running'),
        sa.Column('note', sa.String(300), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=False, server_default=utcnow()),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_statement_runs_shortcode', 'statement_runs', ['shortcode'])
    op.create_table(
        'statement_lines',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('shortcode', sa.String(16), nullable=False),
        sa.Column('receipt', sa.String(32), nullable=False),
        sa.Column('kind', sa.String(40), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('account', sa.String(40), nullable=True),
        sa.Column('party_masked', sa.String(24), nullable=True),
        sa.Column('party_sealed', sa.Text(), nullable=True),
        sa.Column('payment_id', sa.Integer(), sa.ForeignKey('payments_received.id'), nullable=True),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('first_run_id', sa.Integer(), sa.ForeignKey('statement_runs.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False, server_default=utcnow()),
    )
    op.create_index('uq_statement_lines_receipt', 'statement_lines', ['shortcode', 'receipt', 'kind'], unique=True)
    op.create_index('ix_statement_lines_receipt', 'statement_lines', ['receipt'])
    op.create_index('ix_statement_lines_at', 'statement_lines', ['at'])
    op.create_index('ix_statement_lines_payment_id', 'statement_lines', ['payment_id'])
    op.create_table(
        'account_balances',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('shortcode', sa.String(16), nullable=False),
        sa.Column('account', sa.String(40), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('available_cents', sa.BigInteger(), nullable=False),
        sa.Column('reported_at', sa.DateTime(), nullable=True),
        sa.Column('conversation_id', sa.String(64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False, server_default=utcnow()),
    )
    op.create_index('ix_account_balances_shortcode', 'account_balances', ['shortcode'])


def downgrade():
    op.drop_table('account_balances')
    op.drop_table('statement_lines')
    op.drop_table('statement_runs')
