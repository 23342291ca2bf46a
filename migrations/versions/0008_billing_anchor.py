"""billing: billing_cycle_anchor on subscriptions

Revision ID: 0008_billing_anchor
Revises: 0007_billing
Create Date: 2026-11-26 07:00:00

Period ends are now anchor + k intervals instead of the previous end + 1 interval. Rows
created before this change are backfilled with their current_period_start: the best
anchor available (the original day of a period that already drifted, e.g. Jan 31 ->
Feb 28, is not recorded anywhere reliable, so such a row keeps renewing on its current day).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0008_billing_anchor'
down_revision = '0007_billing'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('billing_cycle_anchor', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE subscriptions SET billing_cycle_anchor = current_period_start')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.alter_column('billing_cycle_anchor', existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('billing_cycle_anchor')
