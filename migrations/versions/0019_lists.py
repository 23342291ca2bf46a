"""lists and retention: indexes behind every keyset list order and every retention range delete

Revision ID: 0019_lists
Revises: 0018_hooks
Create Date: 2026-12-01 09:10:00

Each cursor list reads `WHERE owner = ? AND (k1, k2) < (?, ?) ORDER BY k1 DESC, k2 DESC LIMIT n`,
which an index on (owner, k1, k2) answers without sorting; each retention job deletes a time range
(docs/api.md#lists, docs/retention.md).
"""
from alembic import op
import sqlalchemy as sa

revision = '0019_lists'
down_revision = '0018_hooks'
branch_labels = None
depends_on = None

# (name, table, columns, partial WHERE or None); an index superseded by a longer one is replaced.
NEW = (
    ("ix_transactions_user_created_id", "transactions", ["user_id", "created_at", "id"], None),
    ("ix_invoices_user_number", "invoices", ["user_id", "number"], None),
    ("ix_credit_notes_user_number", "credit_notes", ["user_id", "number"], None),
    ("ix_subscriptions_user_created_id", "subscriptions", ["user_id", "created_at", "id"], None),
    ("ix_subscription_events_subscription_at_id", "subscription_events", ["subscription_id", "at", "id"], None),
    ("ix_audit_events_at_id", "audit_events", ["at", "id"], None),
    ("ix_sub_outbox_events_delivered", "sub_outbox_events", ["delivered_at"], "delivered_at IS NOT NULL"),
    ("ix_pay_outbox_events_delivered", "pay_outbox_events", ["delivered_at"], "delivered_at IS NOT NULL"),
    ("ix_sub_inbox_events_received_at", "sub_inbox_events", ["received_at"], None),
    ("ix_pay_inbox_events_received_at", "pay_inbox_events", ["received_at"], None),
    ("ix_mock_gateway_requests_answered", "mock_gateway_requests", ["created_at"], "answered_at IS NOT NULL"),
    ("ix_webhook_attempts_attempted_at", "webhook_attempts", ["attempted_at"], None),
)
REPLACED = (
    ("ix_transactions_user_created", "transactions", ["user_id", "created_at"]),
    ("ix_subscription_events_subscription_at", "subscription_events", ["subscription_id", "at"]),
    ("ix_audit_events_at", "audit_events", ["at"]),
)


def upgrade():
    for name, table, columns, where in NEW:
        op.create_index(name, table, columns, postgresql_where=sa.text(where) if where else None)
    for name, table, _ in REPLACED:
        op.drop_index(name, table_name=table)


def downgrade():
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns)
    for name, table, _, _ in reversed(NEW):
        op.drop_index(name, table_name=table)
