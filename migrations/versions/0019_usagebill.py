"""usage billing: per-plan feature pricing and usage lines on invoices

Revision ID: 0019_usagebill
Revises: 0018_hooks
Create Date: 2026-12-01 09:10:00

A plan prices each metered feature (included units, hard|soft|unlimited, overage model);
renewal invoices carry one usage line per priced feature (docs/usage-billing.md).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0019_usagebill'
down_revision = '0018_hooks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "plan_feature_prices",
        sa.Column("plan_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("plans.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("feature_key", sa.String(64), sa.ForeignKey("features.key"), primary_key=True),
        sa.Column("included", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("limit_mode", sa.String(9), nullable=False),
        sa.Column("model", sa.String(9), nullable=False, server_default="per_unit"),
        sa.Column("unit_amount_cents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("package_size", sa.BigInteger),
        sa.Column("tiers", postgresql.JSONB),
        sa.CheckConstraint("included >= 0", name=op.f("ck_plan_feature_prices_included_nonnegative")),
        sa.CheckConstraint("limit_mode IN ('hard', 'soft', 'unlimited')", name=op.f("ck_plan_feature_prices_limit_mode")),
        sa.CheckConstraint("model IN ('per_unit', 'package', 'graduated', 'volume')",
                           name=op.f("ck_plan_feature_prices_model")),
    )
    for name, type_ in (("feature", sa.String(64)), ("quantity", sa.BigInteger), ("included", sa.BigInteger),
                        ("billable", sa.BigInteger), ("pricing", postgresql.JSONB)):
        op.add_column("invoice_lines", sa.Column(name, type_))


def downgrade():
    for name in ("pricing", "billable", "included", "quantity", "feature"):
        op.drop_column("invoice_lines", name)
    op.drop_table("plan_feature_prices")
