"""integration events: retention deletes an expired event with its finished deliveries

Revision ID: 0026_billrun
Revises: 0025_life
Create Date: 2026-12-01 11:00:00

The retention job deletes integration events older than INTEGRATION_EVENT_RETENTION_DAYS (the replay
horizon, docs/retention.md); their deliveries (and, already, the deliveries' attempts) go with them.
"""
from alembic import op

revision = '0026_billrun'
down_revision = '0025_life'
branch_labels = None
depends_on = None

FK = "fk_webhook_deliveries_event_id_integration_events"


def upgrade():
    op.drop_constraint(FK, "webhook_deliveries", type_="foreignkey")
    op.create_foreign_key(FK, "webhook_deliveries", "integration_events", ["event_id"], ["id"], ondelete="CASCADE")


def downgrade():
    op.drop_constraint(FK, "webhook_deliveries", type_="foreignkey")
    op.create_foreign_key(FK, "webhook_deliveries", "integration_events", ["event_id"], ["id"])
