"""subscriptions: unwanted_payments, one refund request per payment we will not honour

Revision ID: 0011_unwanted_payments
Revises: 0010_plan_interval_count
Create Date: 2026-11-26 10:00:00

A subscription-side revision after 0010_plan_interval_count (the payment side's 0009_refund_requests stays
a sibling head: `flask db upgrade heads`). No backfill: refund requests written before it carry the
same request_id the payment service dedupes by, so a later report of such a payment may ask once
more and still makes no second refund.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0011_unwanted_payments'
down_revision = '0010_plan_interval_count'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'unwanted_payments',
        sa.Column('transaction_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('invoice_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('refund_event_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('amount_cents > 0', name=op.f('ck_unwanted_payments_amount_positive')),
        sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_unwanted_payments')),
    )
    with op.batch_alter_table('unwanted_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unwanted_payments_invoice_id'), ['invoice_id'], unique=False)


def downgrade():
    with op.batch_alter_table('unwanted_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unwanted_payments_invoice_id'))
    op.drop_table('unwanted_payments')
