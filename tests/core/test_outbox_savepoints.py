"""Outbox events written around SAVEPOINTs are enqueued after the real commit, never before or never."""
import pytest

from core import outbox
from core.extensions import db
from core.queues import WEBHOOKS, get_queue
from subscription_app.models import SubscriptionOutbox

pytestmark = pytest.mark.reliability


def test_savepoint_release_does_not_enqueue_before_commit(app):
    with app.app_context():
        with db.session.begin_nested():
            outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": 1})
        assert get_queue(WEBHOOKS).count == 0  # released savepoint: not committed yet
        db.session.commit()
        assert get_queue(WEBHOOKS).count == 1


def test_savepoint_rollback_keeps_the_outer_events(app):
    with app.app_context():
        kept = outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": 1}).id
        with pytest.raises(ValueError), db.session.begin_nested():
            outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": 2})
            raise ValueError
        db.session.commit()
        assert db.session.query(SubscriptionOutbox).count() == 1
        # One drain of the target is enqueued, and what it finds is the outer event alone: the rolled-back
        # SAVEPOINT took its own event with it.
        assert [job.args for job in get_queue(WEBHOOKS).jobs] == [("payment_charges",)]
        assert [r.id for r in db.session.query(SubscriptionOutbox)] == [kept]
