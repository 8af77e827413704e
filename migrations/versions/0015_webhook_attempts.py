"""webhook_attempts: every try of a webhook delivery, with the endpoint's answer (issue 16)

A delivery keeps its latest answer; this keeps each one, so `flask webhooks show` can list a
delivery's attempts with their times, answers and durations.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 10:25:00
"""
from alembic import op
import sqlalchemy as sa

from escrow.db import utcnow


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'webhook_attempts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('delivery_id', sa.Integer(), sa.ForeignKey('webhook_deliveries.id'), nullable=False, index=True),
        sa.Column('number', sa.Integer(), nullable=False),                 # 1 for the first try
        sa.Column('status', sa.Integer(), nullable=True),                  # the endpoint's HTTP status
        sa.Column('error', sa.String(60), nullable=True),                  # or why there was none
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False, server_default=utcnow()),
    )


def downgrade():
    op.drop_table('webhook_attempts')
