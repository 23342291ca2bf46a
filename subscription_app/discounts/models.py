"""Tables of coupons, promotion codes, the discounts they grant and the customer balance ledger."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db

DURATIONS = ("once", "repeating", "forever")
TZ = db.DateTime(timezone=True)


def _created() -> Mapped[datetime]:
    return mapped_column(TZ, server_default=func.now(), nullable=False)


class Coupon(db.Model):
    """What a discount is worth and for how long: percent off XOR an amount off in one currency."""
    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("(percent_off IS NULL) <> (amount_off_cents IS NULL)", name="one_kind"),
        CheckConstraint("percent_off IS NULL OR percent_off BETWEEN 1 AND 100", name="percent_range"),
        CheckConstraint("amount_off_cents IS NULL OR (amount_off_cents > 0 AND currency IS NOT NULL)",
                        name="amount_positive"),
        CheckConstraint("duration IN ('once', 'repeating', 'forever')", name="duration"),
        CheckConstraint("(duration = 'repeating') = (duration_in_periods IS NOT NULL)", name="periods_if_repeating"),
        CheckConstraint("duration_in_periods IS NULL OR duration_in_periods >= 1", name="periods_positive"),
        CheckConstraint("max_redemptions IS NULL OR max_redemptions >= 1", name="max_positive"),
        CheckConstraint("max_redemptions IS NULL OR times_redeemed <= max_redemptions", name="within_max"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(db.String(100), nullable=False)
    percent_off: Mapped[int | None] = mapped_column(db.Integer)
    amount_off_cents: Mapped[int | None] = mapped_column(db.BigInteger)
    currency: Mapped[str | None] = mapped_column(db.String(3))
    duration: Mapped[str] = mapped_column(db.String(16), nullable=False)
    duration_in_periods: Mapped[int | None] = mapped_column(db.Integer)
    max_redemptions: Mapped[int | None] = mapped_column(db.Integer)
    times_redeemed: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    redeem_by: Mapped[datetime | None] = mapped_column(TZ)
    # False: no new redemption; the discounts it gave keep going.
    active: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("true"))
    # Empty: every plan.
    applies_to_plan_ids: Mapped[list] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    created_at: Mapped[datetime] = _created()


class PromotionCode(db.Model):
    """A customer-facing string for a coupon, with limits of its own."""
    __tablename__ = "promotion_codes"
    __table_args__ = (
        Index("uq_promotion_codes_code_lower", text("lower(code)"), unique=True),
        CheckConstraint("max_redemptions IS NULL OR max_redemptions >= 1", name="max_positive"),
        CheckConstraint("max_redemptions IS NULL OR times_redeemed <= max_redemptions", name="within_max"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(db.String(64), nullable=False)
    coupon_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("coupons.id"), nullable=False)
    active: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("true"))
    max_redemptions: Mapped[int | None] = mapped_column(db.Integer)
    times_redeemed: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    expires_at: Mapped[datetime | None] = mapped_column(TZ)
    once_per_customer: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = _created()


class Discount(db.Model):
    """A coupon on a subscription: applied to each plan invoice while periods_left is null or > 0."""
    __tablename__ = "discounts"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("subscriptions.id"),
                                                       nullable=False, unique=True)
    coupon_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("coupons.id"), nullable=False)
    promotion_code_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True),
                                                                db.ForeignKey("promotion_codes.id"))
    start: Mapped[datetime] = mapped_column(TZ, nullable=False)
    # Null: forever.
    periods_left: Mapped[int | None] = mapped_column(db.Integer)


class CouponRedemption(db.Model):
    """One use of a code by a customer; the partial unique index makes once-per-customer race-free."""
    __tablename__ = "coupon_redemptions"
    __table_args__ = (Index("uq_coupon_redemptions_once", "promotion_code_id", "user_id", unique=True,
                            postgresql_where=text("once_per_customer")),)

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    coupon_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("coupons.id"), nullable=False)
    promotion_code_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True),
                                                                db.ForeignKey("promotion_codes.id"))
    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id"), nullable=False)
    subscription_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("subscriptions.id"),
                                                       nullable=False)
    once_per_customer: Mapped[bool] = mapped_column(db.Boolean, nullable=False)
    created_at: Mapped[datetime] = _created()


class BalanceTransaction(db.Model):
    """One movement of a customer's credit balance; the balance is their sum per currency."""
    __tablename__ = "customer_balance_transactions"
    __table_args__ = (Index("ix_customer_balance_user_currency", "user_id", "currency"),
                      CheckConstraint("amount_cents <> 0", name="amount_nonzero"),
                      CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"))

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id"), nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    # Negative: credit the customer holds; positive: credit used up.
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(db.String(64), nullable=False)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("invoices.id"))
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("credit_notes.id"))
    created_at: Mapped[datetime] = _created()
