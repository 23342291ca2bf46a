"""Tables owned by the subscription service."""
from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, Index, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import TimestampMixin, db
from core.idempotency import IdempotencyKeyMixin
from core.inbox import InboxMixin
from core.outbox import OutboxMixin
from subscription_app.billing.periods import MAX_INTERVAL_COUNT

ROLES = ("user", "admin")
INTERVAL_COUNT_CHECK = ("interval_count >= 1 AND interval_count <= CASE billing_interval "
                        + " ".join(f"WHEN '{interval}' THEN {limit}" for interval, limit in MAX_INTERVAL_COUNT.items())
                        + " END")


class User(TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="role"),
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
        Index("uq_users_external_id", "external_id", unique=True),
        Index("ix_users_email_prefix", text("lower(email) text_pattern_ops")),
        Index("ix_users_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(db.String(254), nullable=False)
    password_hash: Mapped[str] = mapped_column(db.String(100), nullable=False)
    first_name: Mapped[str | None] = mapped_column(db.String(100))
    last_name: Mapped[str | None] = mapped_column(db.String(100))
    role: Mapped[str] = mapped_column(db.String(16), nullable=False, server_default="user")
    is_active: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("true"))
    # Bumped on password change: every token carrying an older version is refused.
    token_version: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    # The operator's own id and a small string map, so their systems can link customers (backoffice/).
    external_id: Mapped[str | None] = mapped_column(db.String(255))
    metadata_: Mapped[dict] = mapped_column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb"),
                                            default=dict)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Plan(TimestampMixin, db.Model):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_nonnegative"),
        CheckConstraint("trial_days >= 0", name="trial_days_nonnegative"),
        CheckConstraint("billing_interval IN ('day', 'week', 'month', 'year')", name="billing_interval"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        # 1 to three years' worth of the interval (billing/periods.py MAX_INTERVAL_COUNT, migration 0010).
        CheckConstraint(INTERVAL_COUNT_CHECK, name="interval_count"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(db.String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(db.String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(db.Text)
    # The current price version's amount (catalog/prices.py keeps it in step); subscribers pay their own version.
    price_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False, server_default="USD")
    billing_interval: Mapped[str] = mapped_column(db.String(8), nullable=False, server_default="month")
    interval_count: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="1")
    trial_days: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    # A trial plan converts to this paid plan when its trial ends.
    converts_to_plan_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plans.id"))
    # {"api_calls": 10000, "sso": true}: per-plan values of catalog features (null: unlimited); absent: not granted.
    feature_limits: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    is_active: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("true"))
    sort_order: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")

    @property
    def features(self) -> list[dict]:
        """Its catalog features as GET /v1/plans shows them: [{key, kind, value}] by key."""
        limits = self.feature_limits or {}
        known = dict(db.session.execute(select(Feature.key, Feature.kind).where(Feature.key.in_(limits))).all())
        return [{"key": key, "kind": known.get(key, "metered"), "value": value}
                for key, value in sorted(limits.items())]


class SubscriptionOutbox(OutboxMixin, db.Model):
    """Events this service sends (charge requests to the payment service)."""
    __tablename__ = "sub_outbox_events"


class SubscriptionInbox(InboxMixin, db.Model):
    """Ids of events this service has applied (payment webhooks)."""
    __tablename__ = "sub_inbox_events"


class SubscriptionIdempotencyKey(IdempotencyKeyMixin, db.Model):
    __tablename__ = "sub_idempotency_keys"


# The billing, catalog and discount tables share this metadata (one history for Alembic), and the
# billing ones keep their old import path: `from subscription_app.models import Subscription`.
from subscription_app.billing.models import (INVOICE_REASONS, INVOICE_STATUSES, LIVE_STATUSES,  # noqa: E402,F401
                                             SUBSCRIPTION_STATUSES, CreditNote, CreditNoteLine, Invoice, InvoiceLine,
                                             PlanChangeQuote, Subscription, SubscriptionEvent, UnwantedPayment)
from subscription_app.catalog.models import AuditEvent, Feature, PlanPrice  # noqa: E402,F401
from subscription_app.discounts.models import (BalanceTransaction, Coupon, CouponRedemption, Discount,  # noqa: E402,F401
                                               PromotionCode)
