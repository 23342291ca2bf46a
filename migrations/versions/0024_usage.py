"""usage: the final invoice of an ending subscription's last period; events billed from PostgreSQL

Revision ID: 0024_usage
Revises: 0023_ui
Create Date: 2026-12-01 11:00:00

A subscription canceled (now or at its period end) gets one last invoice, reason
`subscription_final`, carrying the usage of its last period (docs/usage-billing.md).

Reported events are billed from usage_events (durable before they are acknowledged), so a
Redis loss cannot forget one: `state` says whether an event's increment reached the Redis
limit counter yet (0 pending, 1 counted) or an admin reset zeroed it (2, not billed). The Redis
counter of a period now holds `use` increments only, events have their own; deploy it with a
fresh usage Redis (or at a period boundary), as counters written before counted events twice.
"""
from alembic import op
import sqlalchemy as sa

revision = '0024_usage'
down_revision = '0023_ui'
branch_labels = None
depends_on = None

OLD = "'subscription_create', 'subscription_cycle', 'subscription_update', 'trial_conversion', 'manual'"
NEW = OLD + ", 'subscription_final'"


def _reasons(values: str) -> None:
    op.drop_constraint(op.f('ck_invoices_reason'), 'invoices', type_='check')
    op.create_check_constraint(op.f('ck_invoices_reason'), 'invoices', f"reason IN ({values})")


def upgrade():
    _reasons(NEW)
    op.add_column("usage_events", sa.Column("state", sa.SmallInteger, nullable=False, server_default="1"))
    op.create_check_constraint(op.f("ck_usage_events_state_known"), "usage_events", "state IN (0, 1, 2)")


def downgrade():
    op.drop_column("usage_events", "state")
    # Money records are kept: a final invoice becomes a manual one.
    op.execute("UPDATE invoices SET reason = 'manual' WHERE reason = 'subscription_final'")
    _reasons(OLD)
