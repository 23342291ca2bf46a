"""Tables of the integrator webhooks: endpoints, events, one delivery per (event, endpoint), attempts."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db

DELIVERY_STATUSES = ("pending", "succeeded", "failed", "dead")
SNIPPET_BYTES = 1024


def _created_at():
    return mapped_column(db.DateTime(timezone=True), server_default=func.now(), nullable=False)


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(db.String(2048), nullable=False)
    description: Mapped[str | None] = mapped_column(db.String(500))
    # Empty means every event type.
    event_types: Mapped[list] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    secret: Mapped[str] = mapped_column(db.String(100), nullable=False)
    previous_secret: Mapped[str | None] = mapped_column(db.String(100))
    previous_expires_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    enabled: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(db.String(500))
    failing_since: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.event_types or event_type in self.event_types)


class IntegrationEvent(db.Model):
    __tablename__ = "integration_events"
    __table_args__ = (Index("ix_integration_events_created_id", "created_at", "id"),
                      Index("ix_integration_events_object", "object_id"))

    id: Mapped[str] = mapped_column(db.String(40), primary_key=True)
    type: Mapped[str] = mapped_column(db.String(64), nullable=False, index=True)
    api_version: Mapped[str] = mapped_column(db.String(16), nullable=False)
    object_type: Mapped[str] = mapped_column(db.String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(db.String(64), nullable=False)
    payload: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'dead')", name="status"),
        CheckConstraint(f"length(last_response_snippet) <= {SNIPPET_BYTES}", name="snippet_bounded"),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(db.String(40), primary_key=True)
    # An expired event (jobs/retention.py) takes its finished deliveries with it.
    event_id: Mapped[str] = mapped_column(db.String(40), db.ForeignKey("integration_events.id", ondelete="CASCADE"),
                                          nullable=False)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("webhook_endpoints.id",
                                                                                    ondelete="CASCADE"),
                                                   nullable=False)
    status: Mapped[str] = mapped_column(db.String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(db.Integer)
    last_latency_ms: Mapped[int | None] = mapped_column(db.Integer)
    last_response_snippet: Mapped[str | None] = mapped_column(db.Text)
    last_error: Mapped[str | None] = mapped_column(db.String(500))
    created_at: Mapped[datetime] = _created_at()


class WebhookAttempt(db.Model):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "attempted_at"),
                      Index("ix_webhook_attempts_attempted_at", "attempted_at"))

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(db.String(40), db.ForeignKey("webhook_deliveries.id",
                                                                          ondelete="CASCADE"), nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    status_code: Mapped[int | None] = mapped_column(db.Integer)
    latency_ms: Mapped[int] = mapped_column(db.Integer, nullable=False)
    response_snippet: Mapped[str | None] = mapped_column(db.Text)
    error: Mapped[str | None] = mapped_column(db.String(500))
    next_attempt_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
