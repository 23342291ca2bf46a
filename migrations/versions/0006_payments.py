"""payments, refunds, payment methods and the mock gateway ledger

Revision ID: 0006_payments
Revises: 0004_messaging
Create Date: 2026-11-26 04:19:27.373458

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_payments'
down_revision = '0004_messaging'
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('mock_gateway_requests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('operation', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=True),
    sa.Column('parent_id', sa.String(length=40), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('decline_reason', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("operation IN ('charge', 'authorise', 'void', 'refund')", name=op.f('ck_mock_gateway_requests_operation_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mock_gateway_requests')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_mock_gateway_requests_idempotency_key'))
    )
    with op.batch_alter_table('mock_gateway_requests', schema=None) as batch_op:
        batch_op.create_index('ix_mock_gateway_requests_unanswered', ['created_at'], unique=False, postgresql_where=sa.text('answered_at IS NULL'))

    op.create_table('mock_gateway_tokens',
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('brand', sa.String(length=16), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('approvable', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_mock_gateway_tokens'))
    )
    op.create_table('payment_methods',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('brand', sa.String(length=16), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('exp_month', sa.SmallInteger(), nullable=False),
    sa.Column('exp_year', sa.SmallInteger(), nullable=False),
    sa.Column('gateway_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_methods')),
    sa.UniqueConstraint('gateway_token', name=op.f('uq_payment_methods_gateway_token'))
    )
    with op.batch_alter_table('payment_methods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_methods_user_id'), ['user_id'], unique=False)

    op.create_table('transactions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('refunded_cents', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('invoice_id', sa.UUID(), nullable=True),
    sa.Column('subscription_id', sa.UUID(), nullable=True),
    sa.Column('payment_method_id', sa.UUID(), nullable=True),
    sa.Column('card_brand', sa.String(length=16), nullable=True),
    sa.Column('card_last4', sa.String(length=4), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('gateway_reference', sa.String(length=64), nullable=True),
    sa.Column('failure_reason', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('charge', 'verify')", name=op.f('ck_transactions_kind_known')),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'refunded', 'partially_refunded', 'voided')", name=op.f('ck_transactions_status_known')),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_transactions_amount_non_negative')),
    sa.CheckConstraint('refunded_cents >= 0 AND refunded_cents <= amount_cents', name=op.f('ck_transactions_refunded_within_amount')),
    sa.ForeignKeyConstraint(['payment_method_id'], ['payment_methods.id'], name=op.f('fk_transactions_payment_method_id_payment_methods')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
    sa.UniqueConstraint('user_id', 'idempotency_key', name='uq_transactions_user_idempotency_key')
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index('ix_transactions_user_created', ['user_id', 'created_at'], unique=False)
        batch_op.create_index('uq_transactions_one_pending_per_invoice', ['invoice_id'], unique=True,
                              postgresql_where=sa.text("status = 'pending' AND invoice_id IS NOT NULL"))

    op.create_table('refunds',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('transaction_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('gateway_reference', sa.String(length=64), nullable=True),
    sa.Column('failure_reason', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name=op.f('ck_refunds_status_known')),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_refunds_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_transaction_id'), ['transaction_id'], unique=False)




def downgrade():

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_transaction_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('uq_transactions_one_pending_per_invoice',
                            postgresql_where=sa.text("status = 'pending' AND invoice_id IS NOT NULL"))
        batch_op.drop_index('ix_transactions_user_created')
        batch_op.drop_index(batch_op.f('ix_transactions_invoice_id'))

    op.drop_table('transactions')
    with op.batch_alter_table('payment_methods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_methods_user_id'))

    op.drop_table('payment_methods')
    op.drop_table('mock_gateway_tokens')
    with op.batch_alter_table('mock_gateway_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_mock_gateway_requests_unanswered', postgresql_where=sa.text('answered_at IS NULL'))

    op.drop_table('mock_gateway_requests')

