"""coupons can be deactivated (issue #16)

Revision ID: 0025_life
Revises: 0024_usage
Create Date: 2026-12-01 11:00:00

An inactive coupon is redeemed by no code any more; the discounts it already gave stay
(Stripe's deleted coupon). Promotion codes had their `active` flag already.
"""
from alembic import op
import sqlalchemy as sa

revision = '0025_life'
down_revision = '0024_usage'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("coupons", sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")))


def downgrade():
    op.drop_column("coupons", "active")
