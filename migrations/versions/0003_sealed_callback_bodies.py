"""sealed callback bodies

Provider callbacks carry phone numbers (and C2B and B2C results carry names). The raw body is now
kept sealed under DATA_KEY in `body_sealed`; `body` keeps a copy with numbers masked and names
blanked, for review. Rows stored before this revision keep their body as it was (body_sealed NULL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inbound_callbacks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_sealed', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('inbound_callbacks', schema=None) as batch_op:
        batch_op.drop_column('body_sealed')
