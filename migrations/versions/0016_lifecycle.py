"""lifecycle: a `paused` status that counts as live, pause columns, binding plan-change quotes

Revision ID: 0016_lifecycle
Revises: 0015_money
Create Date: 2026-12-02 09:00:00

A paused subscription is still the user's one live subscription, so the partial unique index
and the status check both learn `paused`. Quotes live in PostgreSQL, not Redis: they bind money.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0016_lifecycle'
down_revision = '0015_money'
branch_labels = None
depends_on = None

OLD_LIVE = "status IN ('incomplete', 'trialing', 'active', 'past_due')"
NEW_LIVE = "status IN ('incomplete', 'trialing', 'active', 'past_due', 'paused')"
ENDED = "'canceled', 'expired', 'incomplete_expired'"


def _statuses(live: str) -> str:
    return live[:-1] + ", " + ENDED + ")"


def _swap_status_rules(old_live: str, new_live: str) -> None:
    op.drop_constraint(op.f('ck_subscriptions_status'), 'subscriptions', type_='check')
    op.create_check_constraint(op.f('ck_subscriptions_status'), 'subscriptions', _statuses(new_live))
    op.drop_index('uq_subscriptions_one_live_per_user', table_name='subscriptions')
    op.create_index('uq_subscriptions_one_live_per_user', 'subscriptions', ['user_id'], unique=True,
                    postgresql_where=sa.text(new_live))


def upgrade():
    _swap_status_rules(OLD_LIVE, NEW_LIVE)
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resume_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('pause_at_period_end', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
    op.create_table(
        'plan_change_quotes',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('subscription_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('plan_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('subscription_version', sa.Integer(), nullable=False),
        sa.Column('proration', sa.String(length=24), nullable=False),
        sa.Column('amount_due_cents', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_plan_change_quotes_subscription_id_subscriptions')),
        sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_change_quotes_plan_id_plans')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_change_quotes')),
    )
    op.create_index('ix_plan_change_quotes_subscription_id', 'plan_change_quotes', ['subscription_id'])


def downgrade():
    op.drop_index('ix_plan_change_quotes_subscription_id', table_name='plan_change_quotes')
    op.drop_table('plan_change_quotes')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('pause_at_period_end')
        batch_op.drop_column('resume_at')
        batch_op.drop_column('paused_at')
    op.execute("UPDATE subscriptions SET status = 'active' WHERE status = 'paused'")
    _swap_status_rules(NEW_LIVE, OLD_LIVE)
