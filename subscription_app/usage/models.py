"""The usage ledger: one row per (user, feature, billing period), the record of truth.

Redis holds the live counter for speed; the sync job moves its value here with an
UPSERT that only moves forward, and an admin reset writes here as well as Redis.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, UniqueConstraint, func
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
