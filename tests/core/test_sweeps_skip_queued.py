"""The outbox and integrator-webhook sweeps enqueue only rows with no job waiting for them.

Under a backlog a row's delivery job can wait in the queue longer than the sweep's grace: enqueuing
it again on every sweep flooded the queue with jobs that only skip. Real PostgreSQL and Redis."""
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from rq import Queue
from sqlalchemy import text

from core import outbox
from core.extensions import db
from core.queues import QUEUE_NAMES, WEBHOOKS, get_queue
from payment_app.models import PaymentOutbox
from subscription_app.models import SubscriptionOutbox
from subscription_app.integrations import delivery as delivery_mod
from tests.support.integrations import register, sign_up
from tests.support.payment_fixtures import drain

pytestmark = [pytest.mark.subscription, pytest.mark.payment]


def _backlog(model=PaymentOutbox) -> None:
    """Every undelivered row is long due, its job still in the queue."""
    db.session.execute(text(f"UPDATE {model.__tablename__} SET next_attempt_at = now() - interval '1 minute'"))
    db.session.commit()


def test_the_outbox_sweep_skips_rows_whose_job_waits(app, redis_conn):
    # Refund requests: a target with one delivery job a row (batch targets share a drain job instead).
    for n in range(3):
        outbox.emit(SubscriptionOutbox, "refund.requested", "payment_refunds", {"n": n})
        db.session.commit()
    queued = get_queue(WEBHOOKS).count
    assert queued == 3
    _backlog(SubscriptionOutbox)
    for _ in range(3):
        assert outbox.sweep(SubscriptionOutbox) == 0  # each row's job still waits: nothing added
    assert get_queue(WEBHOOKS).count == queued
    get_queue(WEBHOOKS).empty()  # the jobs are lost (a Redis loss)
    assert outbox.sweep(SubscriptionOutbox) == 3
    assert outbox.sweep(SubscriptionOutbox) == 0  # the sweep's own jobs wait now
    assert get_queue(WEBHOOKS).count == 3


def test_the_outbox_sweep_skips_a_retry_scheduled_for_later(app, payment_app, redis_conn, monkeypatch):
    with payment_app.app_context():
        row = outbox.emit(PaymentOutbox, "payment.failed", "subscription_webhook", {})
        db.session.commit()
        get_queue(WEBHOOKS).empty()
        monkeypatch.setitem(outbox.config_for(PaymentOutbox).targets, "subscription_webhook",
                            lambda: "http://127.0.0.1:9/refused")
        assert outbox.deliver(PaymentOutbox, str(row.id)) == "retry"  # its retry is a scheduled job
        scheduled = get_queue(WEBHOOKS).scheduled_job_registry
        assert scheduled.count == 1
        _backlog()
        assert outbox.sweep(PaymentOutbox) == 0 and scheduled.count == 1 and get_queue(WEBHOOKS).count == 0


@pytest.fixture
def admin(make_user):
    return make_user("ops@example.com", role="admin")[1]


def test_the_webhook_sweep_skips_deliveries_whose_job_waits(app, client, admin, receiver, redis_conn):
    register(client, admin, receiver)
    for n in range(2):
        sign_up(client, f"swept{n}@example.com")
    queued = Queue(WEBHOOKS, connection=redis_conn).count
    assert queued >= 2
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(seconds=15), tick=True):
        with app.app_context():
            assert delivery_mod.sweep() == 0
            assert Queue(WEBHOOKS, connection=redis_conn).count == queued
            for name in QUEUE_NAMES:
                Queue(name, connection=redis_conn).empty()
            assert delivery_mod.sweep() == 2
            assert delivery_mod.sweep() == 0
        drain(redis_conn)
    assert len(receiver.verified("customer.created")) == 2
