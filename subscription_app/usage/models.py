"""The usage ledger: one row per (user, feature, billing period), the record of truth.

Redis holds the live counter for speed; the sync job moves its value here with an
UPSERT that only moves forward, and an admin reset writes here as well as Redis.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db


class UsageCounter(db.Model):
    __tablename__ = "usage_counters"
    __table_args__ = (
        UniqueConstraint("user_id", "feature", "period_start", name="uq_usage_counters_user_feature_period"),
        CheckConstraint("used >= 0", name="used_nonnegative"),
    )

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id", ondelete="CASCADE"),
                                         nullable=False)
    feature: Mapped[str] = mapped_column(db.String(64), nullable=False)
    period_start: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    period_end: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    used: Mapped[int] = mapped_column(db.BigInteger, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now(), nullable=False)


class PlanFeaturePrice(db.Model):
    """How a plan prices one metered feature: included units, limit mode and the overage price."""
    __tablename__ = "plan_feature_prices"
    __table_args__ = (
        CheckConstraint("included >= 0", name="included_nonnegative"),
        CheckConstraint("limit_mode IN ('hard', 'soft', 'unlimited')", name="limit_mode"),
        CheckConstraint("model IN ('per_unit', 'package', 'graduated', 'volume')", name="model"),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plans.id", ondelete="CASCADE"),
                                               primary_key=True)
    feature_key: Mapped[str] = mapped_column(db.String(64), db.ForeignKey("features.key"), primary_key=True)
    included: Mapped[int] = mapped_column(db.BigInteger, nullable=False, server_default="0")
    limit_mode: Mapped[str] = mapped_column(db.String(9), nullable=False)
    model: Mapped[str] = mapped_column(db.String(9), nullable=False, server_default="per_unit")
    unit_amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False, server_default="0")
    package_size: Mapped[int | None] = mapped_column(db.BigInteger)
    tiers: Mapped[list | None] = mapped_column(JSONB)
    alert_percents: Mapped[list | None] = mapped_column(JSONB)  # null: 80 and 100

    def as_dict(self) -> dict:
        return {"included": self.included, "limit_mode": self.limit_mode, "model": self.model,
                "unit_amount_cents": self.unit_amount_cents, "package_size": self.package_size, "tiers": self.tiers,
                "alert_percents": self.alert_percents}


class ApiKey(db.Model):
    """An operator's key for server-to-server usage reporting: only its SHA-256 is kept."""
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(db.String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(db.String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(db.String(64), nullable=False, unique=True)
    created_by: Mapped[int | None] = mapped_column(db.BigInteger, db.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))


# usage_events.state: the event is billed (pending or counted) unless an admin reset zeroed it.
EVENT_PENDING, EVENT_COUNTED, EVENT_RESET = 0, 1, 2
BILLED_EVENT_STATES = (EVENT_PENDING, EVENT_COUNTED)


class UsageEvent(db.Model):
    """One reported usage event; its unique event_id is the durable dedupe (Redis may forget, this does not).

    The rows are the truth of billing for reported usage; `state` says whether the event's increment
    reached the Redis limit counter yet (pending -> counted), or an admin reset zeroed it.
    """
    __tablename__ = "usage_events"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),
                      CheckConstraint("state IN (0, 1, 2)", name="state_known"),
                      Index("ix_usage_events_user_period", "user_id", "period_start", "feature"),
                      # Room on each page for a row's counted version: the state update is heap-only (0027_ingest).
                      {"postgresql_with": {"fillfactor": 50}})

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(db.String(255), nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id", ondelete="CASCADE"),
                                         nullable=False)
    feature: Mapped[str] = mapped_column(db.String(64), nullable=False)
    quantity: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    period_start: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("api_keys.id"))
    state: Mapped[int] = mapped_column(db.SmallInteger, nullable=False, server_default="1")
    received_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                  nullable=False)


class UsageThresholdCrossing(db.Model):
    """A usage threshold a customer reached in a period: the row makes its event once-only."""
    __tablename__ = "usage_threshold_crossings"

    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    feature: Mapped[str] = mapped_column(db.String(64), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), primary_key=True)
    threshold_quantity: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    threshold_percent: Mapped[int] = mapped_column(db.Integer, nullable=False)
    used: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    reached_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)
