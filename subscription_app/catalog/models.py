"""Catalog tables: price versions, the feature catalogue and the operator's audit log."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db

FEATURE_KINDS = ("metered", "flag")


class PlanPrice(db.Model):
    """One version of a plan's price; a version with subscribers is never edited, a new one is added."""
    __tablename__ = "plan_prices"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_nonnegative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        CheckConstraint("version >= 1", name="version_positive"),
        UniqueConstraint("plan_id", "version", name="uq_plan_prices_plan_version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plans.id"), nullable=False)
    version: Mapped[int] = mapped_column(db.Integer, nullable=False)
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    billing_interval: Mapped[str] = mapped_column(db.String(8), nullable=False)
    interval_count: Mapped[int] = mapped_column(db.Integer, nullable=False)
    active: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)


class Feature(db.Model):
    """A feature key plans may grant: a metered limit per period, or an on/off flag."""
    __tablename__ = "features"
    __table_args__ = (CheckConstraint("kind IN ('metered', 'flag')", name="kind"),)

    key: Mapped[str] = mapped_column(db.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(db.String(8), nullable=False)
    description: Mapped[str | None] = mapped_column(db.Text)
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)


class AuditEvent(db.Model):
    """Who did what to which catalog object, written in the transaction of the change itself."""
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id", "at"),
                      Index("ix_audit_events_at_id", "at", "id"))

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    actor_user_id: Mapped[int | None] = mapped_column(db.BigInteger, db.ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(db.String(8), nullable=False)  # api | cli | seed
    action: Mapped[str] = mapped_column(db.String(64), nullable=False)
    object_type: Mapped[str] = mapped_column(db.String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(db.String(64), nullable=False)
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(db.String(64))
    at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
