"""Migration 0017_catalog: every plan gets price version 1, every subscription points at it, feature keys catalogued."""
import uuid
from datetime import timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from core import clock
from core.extensions import db

pytestmark = pytest.mark.subscription


def _migrate(step, revision):
    db.session.remove()  # no open transaction may hold a lock the ALTER TABLE waits for
    step(revision=revision)


def test_upgrade_backfills_versions_and_subscription_prices(app, make_user):
    with app.app_context():
        user, _ = make_user()
        try:
            _migrate(downgrade, "0016_lifecycle")
            plan_id, now = uuid.uuid4(), clock.utcnow()
            db.session.execute(text("INSERT INTO plans (id, code, name, price_cents, feature_limits) "
                                    "VALUES (:id, 'old', 'Old', 1900, '{\"api_calls\": 5}')"), {"id": plan_id})
            db.session.execute(text(
                "INSERT INTO subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end, "
                "billing_cycle_anchor) VALUES (:id, :user, :plan, 'active', :start, :end, :start)"),
                {"id": uuid.uuid4(), "user": user.id, "plan": plan_id, "start": now, "end": now + timedelta(days=30)})
            db.session.commit()
        finally:
            _migrate(upgrade, "head")
        price = db.session.execute(text("SELECT id, version, amount_cents, currency FROM plan_prices "
                                        "WHERE plan_id = :p"), {"p": plan_id}).one()
        assert (price.version, price.amount_cents, price.currency) == (1, 1900, "USD")
        assert db.session.scalar(text("SELECT price_id FROM subscriptions WHERE plan_id = :p"), {"p": plan_id}) \
            == price.id
        assert db.session.scalar(text("SELECT kind FROM features WHERE key = 'api_calls'")) == "metered"
