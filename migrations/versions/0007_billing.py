"""billing: refunded total on invoices, one trial per user

Revision ID: 0007_billing
Revises: 0004_messaging
Create Date: 2026-11-26 04:20:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0007_billing'
down_revision = '0004_messaging'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount_refunded_cents', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_check_constraint(op.f('ck_invoices_refunded_nonnegative'), 'amount_refunded_cents >= 0')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('uq_subscriptions_one_trial_per_user', ['user_id'], unique=True,
                              postgresql_where=sa.text('trial_start IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('uq_subscriptions_one_trial_per_user',
                            postgresql_where=sa.text('trial_start IS NOT NULL'))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_invoices_refunded_nonnegative'), type_='check')
        batch_op.drop_column('amount_refunded_cents')
