"""Migration 0010: the interval_count CHECK constraint on plans; a bad row stops the upgrade with a clear message.

Runs the real migrations on the test database (down to 0008_billing_anchor and back up to the head).
"""
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from core.extensions import db

pytestmark = pytest.mark.subscription
BEFORE = "0008_billing_anchor"
# Downgrading to 0008 also takes off what was built on 0010: its head is the newest of them.
SIBLINGS = {"0003_usage", "0009_refund_requests"}  # the usage and payment branches stay


def _constraint():
    return db.session.scalar(text("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                  "WHERE conname = 'ck_plans_interval_count'"))


def _heads():
    return set(db.session.scalars(text("SELECT version_num FROM alembic_version")))


def _migrate(step, revision):
    db.session.remove()  # no open transaction may hold a lock the ALTER TABLE waits for
    step(revision=revision)


def _plan(code: str, interval: str, count: int) -> None:
    db.session.execute(text("INSERT INTO plans (id, code, name, price_cents, billing_interval, interval_count) "
                            "VALUES (:id, :code, 'Old', 900, :interval, :count)"),
                       {"id": uuid.uuid4(), "code": code, "interval": interval, "count": count})


def test_upgrade_refuses_bad_rows_by_name_then_adds_the_constraint_and_downgrade_drops_it(app, capfd):
    with app.app_context():
        heads = _heads()
        assert len(heads) == 1
        try:
            _migrate(downgrade, BEFORE)
            assert _constraint() is None
            assert _heads() == SIBLINGS | {BEFORE}
            _plan("fine_quarterly", "month", 3)
            _plan("broken_zero", "month", 0)
            _plan("broken_decade", "year", 10)
            db.session.commit()

            with pytest.raises(SystemExit):  # flask-migrate logs the migration's error and exits 1
                _migrate(upgrade, "head")
            message = capfd.readouterr().err  # alembic.ini logs to stderr
            assert "broken_zero (0 month)" in message and "broken_decade (10 year)" in message
            assert "fine_quarterly" not in message
            db.session.rollback()
            assert _constraint() is None and BEFORE in _heads()  # nothing half done

            db.session.execute(text("UPDATE plans SET interval_count = 1 WHERE code LIKE 'broken_%'"))
            db.session.commit()
            _migrate(upgrade, "head")
            assert _heads() == heads
            assert "interval_count >= 1" in _constraint()
            assert db.session.scalar(text("SELECT count(*) FROM plans")) == 3  # rows survive

            _migrate(downgrade, BEFORE)
            assert _constraint() is None
        finally:
            db.session.rollback()
            db.session.execute(text("UPDATE plans SET interval_count = 1 WHERE code LIKE 'broken_%'"))
            db.session.commit()
            _migrate(upgrade, "head")
        assert _heads() == heads
