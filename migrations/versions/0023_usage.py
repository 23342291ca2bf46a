"""usage: the final invoice of an ending subscription's last period

Revision ID: 0023_usage
Revises: 0022_usagebill
Create Date: 2026-12-01 11:00:00

A subscription canceled (now or at its period end) gets one last invoice, reason
`subscription_final`, carrying the usage of its last period (docs/usage-billing.md).
"""
from alembic import op

revision = '0023_usage'
down_revision = '0022_usagebill'
branch_labels = None
depends_on = None

OLD = "'subscription_create', 'subscription_cycle', 'subscription_update', 'trial_conversion', 'manual'"
NEW = OLD + ", 'subscription_final'"


def _reasons(values: str) -> None:
    op.drop_constraint(op.f('ck_invoices_reason'), 'invoices', type_='check')
    op.create_check_constraint(op.f('ck_invoices_reason'), 'invoices', f"reason IN ({values})")


def upgrade():
    _reasons(NEW)


def downgrade():
    # Money records are kept: a final invoice becomes a manual one.
    op.execute("UPDATE invoices SET reason = 'manual' WHERE reason = 'subscription_final'")
    _reasons(OLD)
