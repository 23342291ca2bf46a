"""usage billing: per-plan feature pricing and usage lines on invoices

Revision ID: 0022_usagebill
Revises: 0021_coupons2
Create Date: 2026-12-01 09:10:00

A plan prices each metered feature (included units, hard|soft|unlimited, overage model);
renewal invoices carry one usage line per priced feature (docs/usage-billing.md).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0022_usagebill'
down_revision = '0021_coupons2'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


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
        sa.Column("alert_percents", postgresql.JSONB),
        sa.CheckConstraint("included >= 0", name=op.f("ck_plan_feature_prices_included_nonnegative")),
        sa.CheckConstraint("limit_mode IN ('hard', 'soft', 'unlimited')", name=op.f("ck_plan_feature_prices_limit_mode")),
        sa.CheckConstraint("model IN ('per_unit', 'package', 'graduated', 'volume')",
                           name=op.f("ck_plan_feature_prices_model")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.BigInteger, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", TZ),
        sa.Column("last_used_at", TZ),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("feature", sa.String(64), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("period_start", TZ, nullable=False),
        sa.Column("api_key_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("api_keys.id")),
        sa.Column("received_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_usage_events_quantity_positive")),
        sa.UniqueConstraint("event_id", name=op.f("uq_usage_events_event_id")),
    )
    op.create_table(
        "usage_threshold_crossings",
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("feature", sa.String(64), primary_key=True),
        sa.Column("period_start", TZ, primary_key=True),
        sa.Column("threshold_quantity", sa.BigInteger, primary_key=True),
        sa.Column("threshold_percent", sa.Integer, nullable=False),
        sa.Column("used", sa.BigInteger, nullable=False),
        sa.Column("reached_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_usage_events_user_period", "usage_events", ["user_id", "period_start", "feature"])
    for name, type_ in (("feature", sa.String(64)), ("quantity", sa.BigInteger), ("included", sa.BigInteger),
                        ("billable", sa.BigInteger), ("pricing", postgresql.JSONB)):
        op.add_column("invoice_lines", sa.Column(name, type_))


def downgrade():
    for name in ("pricing", "billable", "included", "quantity", "feature"):
        op.drop_column("invoice_lines", name)
    op.drop_table("usage_threshold_crossings")
    op.drop_table("usage_events")
    op.drop_table("api_keys")
    op.drop_table("plan_feature_prices")
