"""back office: customer external_id and metadata, credit notes without a refund, report indexes

Revision ID: 0020_admin2
Revises: 0019_lists
Create Date: 2026-12-01 11:00:00

The operator's own systems link customers by external_id; a credit note the operator issues
without a refund has no refund_id or transaction; the summary report and the customer search
read through the indexes below (docs/backoffice.md).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0020_admin2'
down_revision = '0019_lists'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("external_id", sa.String(255)))
    op.add_column("users", sa.Column("metadata", postgresql.JSONB, nullable=False,
                                     server_default=sa.text("'{}'::jsonb")))
    op.create_index("uq_users_external_id", "users", ["external_id"], unique=True)
    op.create_index("ix_users_email_prefix", "users", [sa.text("lower(email) text_pattern_ops")])
    op.create_index("ix_users_created_at", "users", ["created_at"])
    op.alter_column("credit_notes", "refund_id", nullable=True)
    op.alter_column("credit_notes", "transaction_id", nullable=True)
    op.create_index("ix_subscriptions_status_plan", "subscriptions", ["status", "plan_id", "price_id"])
    op.create_index("ix_invoices_status_created", "invoices", ["status", "created_at"])
    op.create_index("ix_invoices_paid_at", "invoices", ["paid_at"], postgresql_where=sa.text("paid_at IS NOT NULL"))
    op.create_index("ix_credit_notes_created", "credit_notes", ["created_at"])
    op.create_index("ix_subscriptions_trial_start", "subscriptions", ["trial_start"],
                    postgresql_where=sa.text("trial_start IS NOT NULL"))
    op.create_index("ix_invoices_reason_period", "invoices", ["reason", "period_start"])


def downgrade():
    for name, table in (("ix_invoices_reason_period", "invoices"), ("ix_subscriptions_trial_start", "subscriptions"),
                        ("ix_credit_notes_created", "credit_notes"), ("ix_invoices_paid_at", "invoices"),
                        ("ix_invoices_status_created", "invoices"), ("ix_subscriptions_status_plan", "subscriptions"),
                        ("ix_users_created_at", "users"), ("ix_users_email_prefix", "users"),
                        ("uq_users_external_id", "users")):
        op.drop_index(name, table_name=table)
    op.execute("DELETE FROM credit_note_lines WHERE credit_note_id IN "
               "(SELECT id FROM credit_notes WHERE refund_id IS NULL)")
    op.execute("DELETE FROM credit_notes WHERE refund_id IS NULL")
    op.alter_column("credit_notes", "transaction_id", nullable=False)
    op.alter_column("credit_notes", "refund_id", nullable=False)
    op.drop_column("users", "metadata")
    op.drop_column("users", "external_id")
