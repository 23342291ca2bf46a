"""admin lists on cursor pages, and covering indexes for the summary's money by month

Revision ID: 0023_ui
Revises: 0022_usagebill
Create Date: 2026-12-01 11:00:00

GET /v1/admin/customers orders by (created_at DESC, id DESC) and its cursor compares that
pair; an index on both columns serves the order, the cursor and the created_from/created_to
filters, so it replaces the created_at-only index. The admin subscriptions list (every
customer's, newest first) gets the same pair.

The summary's collected and refunded figures add up a year of invoices and refund credit
notes: at 100k rows that is a third of the table, which a plain index cannot serve better than
a sequential scan, but a covering one (the month, currency and amount in the index) can, with an
index-only scan (docs/backoffice.md shows the plans).
"""
from alembic import op
import sqlalchemy as sa

revision = '0023_ui'
down_revision = '0022_usagebill'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"])
    op.drop_index("ix_users_created_at", table_name="users")
    op.create_index("ix_subscriptions_created_id", "subscriptions", ["created_at", "id"])
    op.drop_index("ix_invoices_paid_at", table_name="invoices")
    op.create_index("ix_invoices_paid_at", "invoices", ["paid_at"], postgresql_include=["currency", "amount_paid_cents"],
                    postgresql_where=sa.text("paid_at IS NOT NULL"))
    op.create_index("ix_credit_notes_refunded", "credit_notes", ["created_at"],
                    postgresql_include=["currency", "amount_cents"], postgresql_where=sa.text("refund_id IS NOT NULL"))


def downgrade():
    op.drop_index("ix_credit_notes_refunded", table_name="credit_notes")
    op.drop_index("ix_invoices_paid_at", table_name="invoices")
    op.create_index("ix_invoices_paid_at", "invoices", ["paid_at"], postgresql_where=sa.text("paid_at IS NOT NULL"))
    op.drop_index("ix_subscriptions_created_id", table_name="subscriptions")
    op.create_index("ix_users_created_at", "users", ["created_at"])
    op.drop_index("ix_users_created_at_id", table_name="users")
