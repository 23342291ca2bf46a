"""coupons, promotion codes, discounts, redemptions and the customer balance ledger

Revision ID: 0021_coupons2
Revises: 0020_admin2
Create Date: 2026-12-01 09:00:00

Counters live on the coupon and code rows so one conditional UPDATE decides the last use
(docs/discounts.md); the balance is a ledger whose sum per currency is the balance (docs/credit-balance.md).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0021_coupons2'
down_revision = '0020_admin2'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
UUID = postgresql.UUID(as_uuid=True)


def _created():
    return sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now())


def upgrade():
    op.create_table(
        "coupons",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("percent_off", sa.Integer),
        sa.Column("amount_off_cents", sa.BigInteger),
        sa.Column("currency", sa.String(3)),
        sa.Column("duration", sa.String(16), nullable=False),
        sa.Column("duration_in_periods", sa.Integer),
        sa.Column("max_redemptions", sa.Integer),
        sa.Column("times_redeemed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("redeem_by", TZ),
        sa.Column("applies_to_plan_ids", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        _created(),
        sa.CheckConstraint("(percent_off IS NULL) <> (amount_off_cents IS NULL)", name=op.f("ck_coupons_one_kind")),
        sa.CheckConstraint("percent_off IS NULL OR percent_off BETWEEN 1 AND 100",
                           name=op.f("ck_coupons_percent_range")),
        sa.CheckConstraint("amount_off_cents IS NULL OR (amount_off_cents > 0 AND currency IS NOT NULL)",
                           name=op.f("ck_coupons_amount_positive")),
        sa.CheckConstraint("duration IN ('once', 'repeating', 'forever')", name=op.f("ck_coupons_duration")),
        sa.CheckConstraint("(duration = 'repeating') = (duration_in_periods IS NOT NULL)",
                           name=op.f("ck_coupons_periods_if_repeating")),
        sa.CheckConstraint("duration_in_periods IS NULL OR duration_in_periods >= 1",
                           name=op.f("ck_coupons_periods_positive")),
        sa.CheckConstraint("max_redemptions IS NULL OR max_redemptions >= 1", name=op.f("ck_coupons_max_positive")),
        sa.CheckConstraint("max_redemptions IS NULL OR times_redeemed <= max_redemptions",
                           name=op.f("ck_coupons_within_max")),
    )
    op.create_table(
        "promotion_codes",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("coupon_id", UUID, sa.ForeignKey("coupons.id"), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("max_redemptions", sa.Integer),
        sa.Column("times_redeemed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("expires_at", TZ),
        sa.Column("once_per_customer", sa.Boolean, nullable=False, server_default=sa.text("false")),
        _created(),
        sa.CheckConstraint("max_redemptions IS NULL OR max_redemptions >= 1",
                           name=op.f("ck_promotion_codes_max_positive")),
        sa.CheckConstraint("max_redemptions IS NULL OR times_redeemed <= max_redemptions",
                           name=op.f("ck_promotion_codes_within_max")),
    )
    op.create_index("uq_promotion_codes_code_lower", "promotion_codes", [sa.text("lower(code)")], unique=True)
    op.create_table(
        "discounts",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("subscription_id", UUID, sa.ForeignKey("subscriptions.id"), nullable=False, unique=True),
        sa.Column("coupon_id", UUID, sa.ForeignKey("coupons.id"), nullable=False),
        sa.Column("promotion_code_id", UUID, sa.ForeignKey("promotion_codes.id")),
        sa.Column("start", TZ, nullable=False),
        sa.Column("periods_left", sa.Integer),
    )
    op.create_table(
        "coupon_redemptions",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("coupon_id", UUID, sa.ForeignKey("coupons.id"), nullable=False),
        sa.Column("promotion_code_id", UUID, sa.ForeignKey("promotion_codes.id")),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("subscription_id", UUID, sa.ForeignKey("subscriptions.id"), nullable=False),
        sa.Column("once_per_customer", sa.Boolean, nullable=False),
        _created(),
    )
    op.create_index("uq_coupon_redemptions_once", "coupon_redemptions", ["promotion_code_id", "user_id"],
                    unique=True, postgresql_where=sa.text("once_per_customer"))
    op.create_table(
        "customer_balance_transactions",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("invoice_id", UUID, sa.ForeignKey("invoices.id")),
        sa.Column("credit_note_id", UUID, sa.ForeignKey("credit_notes.id")),
        _created(),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_customer_balance_transactions_amount_nonzero")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_customer_balance_transactions_currency_iso")),
    )
    op.create_index("ix_customer_balance_user_currency", "customer_balance_transactions", ["user_id", "currency"])
    # A credit note to the balance refunds nothing: no refund or transaction of the payment service.
    op.alter_column("credit_notes", "refund_id", nullable=True)
    op.alter_column("credit_notes", "transaction_id", nullable=True)


def downgrade():
    op.execute("DELETE FROM credit_note_lines WHERE credit_note_id IN "
               "(SELECT id FROM credit_notes WHERE refund_id IS NULL)")
    op.execute("DELETE FROM customer_balance_transactions")
    op.execute("DELETE FROM credit_notes WHERE refund_id IS NULL")
    op.alter_column("credit_notes", "refund_id", nullable=False)
    op.alter_column("credit_notes", "transaction_id", nullable=False)
    for table in ("customer_balance_transactions", "coupon_redemptions", "discounts", "promotion_codes", "coupons"):
        op.drop_table(table)
