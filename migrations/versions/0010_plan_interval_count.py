"""plans: interval_count between 1 and three years of its interval (CHECK constraint)

Revision ID: 0010_plan_interval_count
Revises: 0008_billing_anchor
Create Date: 2026-11-27 09:00:00

A count of 0 made period arithmetic divide by zero and a negative one never found the
next period end; no row may hold either, nor a period longer than three years (3 years,
36 months, 156 weeks, 1095 days: Stripe's limit). Plans that break the rule are not
guessed at: the upgrade stops and names them, so an operator fixes them first.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0010_plan_interval_count'
down_revision = '0008_billing_anchor'
branch_labels = None
depends_on = None

# Written out (not imported from the models): a migration keeps the rule it was written with.
CHECK = ("interval_count >= 1 AND interval_count <= CASE billing_interval WHEN 'day' THEN 1095 "
         "WHEN 'week' THEN 156 WHEN 'month' THEN 36 WHEN 'year' THEN 3 END")


def upgrade():
    bad = op.get_bind().execute(sa.text(
        f"SELECT code, interval_count, billing_interval FROM plans WHERE NOT ({CHECK}) ORDER BY code")).all()
    if bad:
        names = ", ".join(f"{code} ({count} {interval})" for code, count, interval in bad)
        raise RuntimeError(f"plans with an interval_count outside 1..3 years of their interval: {names}; "
                           "fix them (UPDATE plans SET interval_count = ...) and run the upgrade again")
    op.create_check_constraint(op.f('ck_plans_interval_count'), 'plans', CHECK)


def downgrade():
    op.drop_constraint(op.f('ck_plans_interval_count'), 'plans', type_='check')
