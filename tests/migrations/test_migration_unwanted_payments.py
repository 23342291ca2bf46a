"""Migration 0011: the unwanted_payments table (one row per transaction) comes and goes with its revision.

Runs the real migrations on the test database (down to 0010_plan_interval_count and back up to the head);
the sibling branches (usage, the payment side) are not touched.
"""
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import exc, text

from core.extensions import db

pytestmark = pytest.mark.subscription
BEFORE = "0010_plan_interval_count"
INSERT = text("INSERT INTO unwanted_payments (transaction_id, invoice_id, user_id, amount_cents, currency, reason, "
              "refund_event_id) VALUES (:txn, :inv, 1, :amount, 'USD', 'invoice_void', :event)")


def _columns():
    return dict(db.session.execute(text(
        "SELECT column_name, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'unwanted_payments'")).all())


def _heads():
    return set(db.session.scalars(text("SELECT version_num FROM alembic_version")))


def _migrate(step, revision):
    db.session.remove()  # no open transaction may hold a lock the DDL waits for
    step(revision=revision)


def _insert(txn, amount=2900):
    db.session.execute(INSERT, {"txn": txn, "inv": uuid.uuid4(), "amount": amount, "event": uuid.uuid4()})
    db.session.commit()


def test_upgrade_creates_the_table_with_one_row_per_transaction_and_downgrade_drops_it(app):
    with app.app_context():
        heads = _heads()
        assert _columns() and BEFORE not in heads  # 0011_unwanted_payments is applied
        try:
            _migrate(downgrade, BEFORE)
            assert _columns() == {}
            assert _heads() == {BEFORE, "0003_usage", "0009_refund_requests"}  # the sibling branches stay

            _migrate(upgrade, "head")
            assert _heads() == heads
            assert _columns() == {"transaction_id": "NO", "invoice_id": "NO", "user_id": "NO", "amount_cents": "NO",
                                  "currency": "NO", "reason": "NO", "refund_event_id": "NO", "created_at": "NO"}
            txn = uuid.uuid4()
            _insert(txn)
            with pytest.raises(exc.IntegrityError):
                _insert(txn)  # one row per transaction: what makes a payment ask for one refund
            db.session.rollback()
            with pytest.raises(exc.IntegrityError):
                _insert(uuid.uuid4(), amount=0)
            db.session.rollback()

            _migrate(downgrade, BEFORE)
            assert _columns() == {}
        finally:
            _migrate(upgrade, "head")
        assert _heads() == heads
