"""catalog: price versions, features, audit events; subscriptions keep their price

Revision ID: 0017_catalog
Revises: 0016_lifecycle
Create Date: 2026-12-02 09:00:00

Each plan gets price version 1 from its own columns and every subscription points at it,
so a later price change (a new version) leaves existing subscribers where they are.
The plans' feature_limits keys become the feature catalogue, all metered.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0017_catalog'
down_revision = '0016_lifecycle'
branch_labels = None
depends_on = None


def _create_tables():
    op.create_table(
        'plan_prices',
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('plan_id', sa.UUID(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('billing_interval', sa.String(length=8), nullable=False),
        sa.Column('interval_count', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_plan_prices_amount_nonnegative')),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_plan_prices_currency_iso')),
        sa.CheckConstraint('version >= 1', name=op.f('ck_plan_prices_version_positive')),
        sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_prices_plan_id_plans')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_prices')),
        sa.UniqueConstraint('plan_id', 'version', name='uq_plan_prices_plan_version'),
    )
    op.create_table(
        'features',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("kind IN ('metered', 'flag')", name=op.f('ck_features_kind')),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_features')),
    )
    op.create_table(
        'audit_events',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('actor_user_id', sa.BigInteger(), nullable=True),
        sa.Column('source', sa.String(length=8), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('object_type', sa.String(length=32), nullable=False),
        sa.Column('object_id', sa.String(length=64), nullable=False),
        sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_audit_events_actor_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    )
    op.create_index('ix_audit_events_object', 'audit_events', ['object_type', 'object_id', 'at'])
    op.create_index('ix_audit_events_at', 'audit_events', ['at'])


def _add_subscription_prices():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price_id', sa.UUID(), nullable=True))
        batch_op.add_column(sa.Column('pending_price_id', sa.UUID(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_subscriptions_price_id_plan_prices'), 'plan_prices',
                                    ['price_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_subscriptions_pending_price_id_plan_prices'), 'plan_prices',
                                    ['pending_price_id'], ['id'])


def _backfill():
    op.execute("INSERT INTO plan_prices (id, plan_id, version, amount_cents, currency, billing_interval, "
               "interval_count, active) SELECT gen_random_uuid(), id, 1, price_cents, currency, billing_interval, "
               "interval_count, true FROM plans")
    op.execute("UPDATE subscriptions s SET price_id = p.id FROM plan_prices p "
               "WHERE p.plan_id = s.plan_id AND p.version = 1")
    op.execute("INSERT INTO features (key, kind) SELECT DISTINCT jsonb_object_keys(feature_limits), 'metered' "
               "FROM plans ON CONFLICT DO NOTHING")


def upgrade():
    _create_tables()
    _add_subscription_prices()
    _backfill()


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_subscriptions_pending_price_id_plan_prices'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_subscriptions_price_id_plan_prices'), type_='foreignkey')
        batch_op.drop_column('pending_price_id')
        batch_op.drop_column('price_id')
    op.drop_index('ix_audit_events_at', table_name='audit_events')
    op.drop_index('ix_audit_events_object', table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_table('features')
    op.drop_table('plan_prices')
