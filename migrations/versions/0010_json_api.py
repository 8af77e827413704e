"""JSON API keys, idempotency records, phone verifications, payment links, webhooks (issue 16)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:40:00
"""
from alembic import op
import sqlalchemy as sa

from escrow.db import utcnow


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _created():
    return sa.Column('created_at', sa.DateTime(), nullable=False, server_default=utcnow())


def upgrade():
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(40), nullable=False, index=True),        # the integration
        sa.Column('prefix', sa.String(16), nullable=False, unique=True),     # shown in listings
        sa.Column('key_hash', sa.String(64), nullable=False, unique=True),   # sha256 of the whole key
        sa.Column('scopes', sa.String(200), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        _created(),
    )
    op.create_table(
        'api_idempotency',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('api_key_id', sa.Integer(), sa.ForeignKey('api_keys.id'), nullable=False),
        sa.Column('key', sa.String(255), nullable=False),
        sa.Column('request_hash', sa.String(64), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),                  # started, done
        sa.Column('response_status', sa.Integer(), nullable=True),
        sa.Column('response_body', sa.Text(), nullable=True),
        sa.Column('response_type', sa.String(40), nullable=True),
        _created(),
        sa.UniqueConstraint('api_key_id', 'key', name='uq_api_idempotency_key'),
    )
    op.create_table(
        'api_verifications',
        sa.Column('id', sa.String(32), primary_key=True),
        sa.Column('api_key_id', sa.Integer(), sa.ForeignKey('api_keys.id'), nullable=False),
        sa.Column('phone_key', sa.String(64), nullable=False, index=True),
        sa.Column('phone_sealed', sa.Text(), nullable=False),
        sa.Column('code_hash', sa.String(64), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('token_hash', sa.String(64), nullable=True, unique=True),
        sa.Column('token_expires_at', sa.DateTime(), nullable=True),
        _created(),
    )
    op.create_table(
        'payment_links',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('token_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True, index=True),
        sa.Column('parent_id', sa.Integer(), sa.ForeignKey('payment_links.id'), nullable=True, index=True),
        sa.Column('api_key_id', sa.Integer(), sa.ForeignKey('api_keys.id'), nullable=True),
        sa.Column('seller_key', sa.String(64), nullable=False),
        sa.Column('seller_sealed', sa.Text(), nullable=False),
        sa.Column('item', sa.String(40), nullable=False),
        sa.Column('price', sa.BigInteger(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        _created(),
    )
    op.create_table(
        'api_orders',
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), primary_key=True),
        sa.Column('api_key_id', sa.Integer(), sa.ForeignKey('api_keys.id'), nullable=False, index=True),
        sa.Column('integration', sa.String(40), nullable=False, index=True),
        _created(),
    )
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('integration', sa.String(40), nullable=False, index=True),
        sa.Column('url', sa.String(500), nullable=False),
        sa.Column('secret_sealed', sa.Text(), nullable=False),
        sa.Column('events', sa.String(300), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False, server_default=sa.text('false')),
        _created(),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('endpoint_id', sa.Integer(), sa.ForeignKey('webhook_endpoints.id'), nullable=False, index=True),
        sa.Column('order_event_id', sa.Integer(), sa.ForeignKey('order_events.id'), nullable=False),
        sa.Column('event_type', sa.String(32), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),      # pending, delivered, failed
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(300), nullable=True),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        _created(),
        sa.UniqueConstraint('endpoint_id', 'order_event_id', name='uq_webhook_delivery_once'),
    )
    op.create_table(
        'webhook_cursor',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('last_event_id', sa.Integer(), nullable=False, server_default='0'),
    )


def downgrade():
    for table in ('webhook_cursor', 'webhook_deliveries', 'webhook_endpoints', 'api_orders', 'payment_links',
                  'api_verifications', 'api_idempotency', 'api_keys'):
        op.drop_table(table)
