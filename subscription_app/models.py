"""Tables owned by the subscription service: identity and plans."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db

ROLES = ("user", "admin")


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)
    updated_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now(), nullable=False)


class User(TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="role"),
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
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
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(db.String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(db.String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(db.Text)
    price_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False, server_default="USD")
    billing_interval: Mapped[str] = mapped_column(db.String(8), nullable=False, server_default="month")
    interval_count: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="1")
    trial_days: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    # A trial plan converts to this paid plan when its trial ends.
    converts_to_plan_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plans.id"))
    # {"api_calls": 10000, ...}; a feature absent from the map is not part of the plan.
    feature_limits: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    is_active: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("true"))
    sort_order: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
