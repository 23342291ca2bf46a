"""admin customers and subscriptions on cursor pages: both indexed by (created_at, id)

Revision ID: 0023_ui
Revises: 0022_usagebill
Create Date: 2026-12-01 11:00:00

GET /v1/admin/customers orders by (created_at DESC, id DESC) and its cursor compares that
pair; an index on both columns serves the order, the cursor and the created_from/created_to
filters, so it replaces the created_at-only index. The admin subscriptions list (every
customer's, newest first) gets the same pair.
"""
from alembic import op

revision = '0023_ui'
down_revision = '0022_usagebill'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"])
    op.drop_index("ix_users_created_at", table_name="users")
    op.create_index("ix_subscriptions_created_id", "subscriptions", ["created_at", "id"])


def downgrade():
    op.drop_index("ix_subscriptions_created_id", table_name="subscriptions")
    op.create_index("ix_users_created_at", "users", ["created_at"])
    op.drop_index("ix_users_created_at_id", table_name="users")
