"""payments: refunds.request_id, the caller's key that makes a requested refund happen once

Revision ID: 0009_refund_requests
Revises: 0006_payments
Create Date: 2026-11-26 09:00:00

A payment-side revision: it follows 0006_payments and stays a sibling of the subscription
side's 0008_billing_anchor (`flask db upgrade heads`). Unique per transaction, so one caller's
key can never name another transaction's refund; existing refunds keep NULL (never collide).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0009_refund_requests'
down_revision = '0006_payments'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_refunds_transaction_request_id'),
                                          ['transaction_id', 'request_id'])


def downgrade():
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_refunds_transaction_request_id'), type_='unique')
        batch_op.drop_column('request_id')
