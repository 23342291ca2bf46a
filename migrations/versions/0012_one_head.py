"""merge the three branches (usage, payment side, subscription side) into one head

Revision ID: 0012_one_head
Revises: 0003_usage, 0009_refund_requests, 0011_unwanted_payments
Create Date: 2026-12-01 08:00:00

No schema change. One head means the plain `flask db upgrade` every Flask-Migrate user types
works; every later revision goes on top of this one.
"""

# revision identifiers, used by Alembic.
revision = '0012_one_head'
down_revision = ('0003_usage', '0009_refund_requests', '0011_unwanted_payments')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
