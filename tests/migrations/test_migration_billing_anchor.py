"""Migration 0008: billing_cycle_anchor is backfilled on existing rows, then NOT NULL; downgrade drops it.

Runs the real migrations on the test database (down to 0007_billing and back up to the head), with
rows inserted in between as a deployment before this change would have them.
"""
import uuid
from datetime import datetime, timezone

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from core.extensions import db

pytestmark = pytest.mark.subscription
BEFORE = "0007_billing"
# Downgrading to 0007 takes off everything built on 0008, the merge head included; the usage and
# payment branches stay at their own last revisions.
SIBLINGS = {"0003_usage", "0009_refund_requests"}
PERIODS = [(datetime(2027, 1, 31, 12, tzinfo=timezone.utc), datetime(2027, 2, 28, 12, tzinfo=timezone.utc)),
           (datetime(2026, 11, 26, 8, tzinfo=timezone.utc), datetime(2026, 12, 10, 8, tzinfo=timezone.utc))]


def _anchor_column():
    return db.session.execute(text(
        "SELECT is_nullable, data_type FROM information_schema.columns "
        "WHERE table_name = 'subscriptions' AND column_name = 'billing_cycle_anchor'")).one_or_none()


def _heads():
    return set(db.session.scalars(text("SELECT version_num FROM alembic_version")))


def _migrate(step, revision):
    db.session.remove()  # no open transaction may hold a lock the ALTER TABLE waits for
    step(revision=revision)


def test_upgrade_backfills_existing_rows_and_downgrade_drops_the_column(app):
    with app.app_context():
        heads = _heads()
        assert len(heads) == 1
        try:
            _migrate(downgrade, BEFORE)
            assert _anchor_column() is None
            assert _heads() == SIBLINGS | {BEFORE}
            user_id = db.session.scalar(text("INSERT INTO users (email, password_hash) "
                                             "VALUES ('old@example.com', 'x') RETURNING id"))
            plan_id = uuid.uuid4()
            db.session.execute(text("INSERT INTO plans (id, code, name, price_cents) "
                                    "VALUES (:id, 'old_monthly', 'Old', 900)"), {"id": plan_id})
            for (start, end), status in zip(PERIODS, ("canceled", "active")):
                db.session.execute(text(
                    "INSERT INTO subscriptions (id, user_id, plan_id, status, current_period_start, "
                    "current_period_end) VALUES (:id, :user, :plan, :status, :start, :end)"),
                    {"id": uuid.uuid4(), "user": user_id, "plan": plan_id, "status": status, "start": start,
                     "end": end})
            db.session.commit()

            _migrate(upgrade, "head")
            assert _heads() == heads
            assert tuple(_anchor_column()) == ("NO", "timestamp with time zone")
            rows = db.session.execute(text("SELECT billing_cycle_anchor, current_period_start FROM subscriptions "
                                           "ORDER BY current_period_start")).all()
            assert [(a, s) for a, s in rows] == [(s, s) for s, _ in sorted(PERIODS)]

            _migrate(downgrade, BEFORE)
            assert _anchor_column() is None
            assert db.session.scalar(text("SELECT count(*) FROM subscriptions")) == 2  # rows survive
        finally:
            _migrate(upgrade, "head")
        assert _heads() == heads
