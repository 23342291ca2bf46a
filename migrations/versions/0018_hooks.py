"""integrator webhooks: endpoints, events, deliveries and their attempts

Revision ID: 0018_hooks
Revises: 0017_catalog
Create Date: 2026-12-01 10:00:00

Events are written in the transaction of the state change they announce; each delivery row is
the truth about one (event, endpoint) pair, so a killed worker loses nothing (docs/webhooks.md).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0018_hooks'
down_revision = '0017_catalog'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500)),
        sa.Column("event_types", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100)),
        sa.Column("previous_expires_at", TZ),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("disabled_reason", sa.String(500)),
        sa.Column("failing_since", TZ),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "integration_events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("api_version", sa.String(16), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_integration_events_created_id", "integration_events", ["created_at", "id"])
    op.create_index("ix_integration_events_object", "integration_events", ["object_id"])
    op.create_index("ix_integration_events_type", "integration_events", ["type"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("event_id", sa.String(40), sa.ForeignKey("integration_events.id"), nullable=False),
        sa.Column("endpoint_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TZ),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_latency_ms", sa.Integer),
        sa.Column("last_response_snippet", sa.Text),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
        sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'dead')", name="ck_webhook_deliveries_status"),
        sa.CheckConstraint("length(last_response_snippet) <= 1024", name="ck_webhook_deliveries_snippet_bounded"),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_id", "created_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("delivery_id", sa.String(40), sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("attempted_at", TZ, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("response_snippet", sa.Text),
        sa.Column("error", sa.String(500)),
        sa.Column("next_attempt_at", TZ),
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "attempted_at"])


def downgrade():
    for table in ("webhook_attempts", "webhook_deliveries", "integration_events", "webhook_endpoints"):
        op.drop_table(table)
