"""usage counters: the PostgreSQL ledger of metered feature usage (one row per user, feature, period)

Revision ID: 0003_usage
Revises: 0002_subscriptions
Create Date: 2026-11-26 04:18:13.439611

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_usage'
down_revision = '0002_subscriptions'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('usage_counters',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('feature', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('used >= 0', name=op.f('ck_usage_counters_used_nonnegative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_usage_counters_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_counters')),
    sa.UniqueConstraint('user_id', 'feature', 'period_start', name='uq_usage_counters_user_feature_period')
    )


def downgrade():
    op.drop_table('usage_counters')
