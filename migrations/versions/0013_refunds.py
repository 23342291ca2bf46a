"""refunds reach the invoice: credit notes, subscription history, the refund's keep_subscription

Revision ID: 0013_refunds
Revises: 0012_one_head
Create Date: 2026-12-01 09:00:00

Payment side: refunds.keep_subscription, subscription_effect and requested_by (who asked).
Subscription side: credit_notes (numbered from an identity, so two at once never share a
number) with credit_note_lines, and subscription_events (a subscription's history).
No backfill: invoices refunded before it keep amount_refunded_cents without credit notes.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0013_refunds'
down_revision = '0012_one_head'
branch_labels = None
depends_on = None

EFFECTS = "subscription_effect IN ('canceled', 'kept', 'none')"


def _refund_columns():
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('keep_subscription', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
        batch_op.add_column(sa.Column('subscription_effect', sa.String(length=16), server_default='none',
                                      nullable=False))
        batch_op.add_column(sa.Column('requested_by', sa.String(length=64), nullable=True))
        batch_op.create_check_constraint(op.f('ck_refunds_subscription_effect_known'), EFFECTS)


def _credit_notes():
    op.create_table(
        'credit_notes',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('number', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('invoice_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('subscription_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('refund_id', sa.String(length=64), nullable=False),
        sa.Column('transaction_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount_cents > 0', name=op.f('ck_credit_notes_amount_positive')),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_credit_notes_currency_iso')),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_credit_notes_invoice_id_invoices')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_credit_notes_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_notes')),
        sa.UniqueConstraint('number', name=op.f('uq_credit_notes_number')),
        sa.UniqueConstraint('refund_id', name=op.f('uq_credit_notes_refund_id')),
    )
    op.create_index(op.f('ix_credit_notes_invoice_id'), 'credit_notes', ['invoice_id'])
    op.create_index('ix_credit_notes_user_created', 'credit_notes', ['user_id', 'created_at'])
    op.create_table(
        'credit_note_lines',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('credit_note_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(['credit_note_id'], ['credit_notes.id'], ondelete='CASCADE',
                                name=op.f('fk_credit_note_lines_credit_note_id_credit_notes')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_note_lines')),
    )
    op.create_index(op.f('ix_credit_note_lines_credit_note_id'), 'credit_note_lines', ['credit_note_id'])


def _subscription_events():
    op.create_table(
        'subscription_events',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('subscription_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('type', sa.String(length=48), nullable=False),
        sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_subscription_events_subscription_id_subscriptions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_events')),
    )
    op.create_index('ix_subscription_events_subscription_at', 'subscription_events', ['subscription_id', 'at'])


def upgrade():
    _refund_columns()
    _credit_notes()
    _subscription_events()


def downgrade():
    op.drop_table('subscription_events')
    op.drop_table('credit_note_lines')
    op.drop_table('credit_notes')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_refunds_subscription_effect_known'), type_='check')
        batch_op.drop_column('requested_by')
        batch_op.drop_column('subscription_effect')
        batch_op.drop_column('keep_subscription')
