"""A worker killed during an integrator webhook's HTTP call leaves its attempt in the delivery log.

The attempt is written down (committed on its own connection) before the call and completed after it: a
process that dies at the call (os._exit in a real subprocess, its transaction never committed) leaves that
attempt with no answer; the job that next holds the row logs it as interrupted and counts it, so the retry
that the sweep finds is the second attempt, not the first again."""
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from rq import Queue

from core.extensions import db
from core.queues import QUEUE_NAMES
from subscription_app.integrations import delivery as delivery_mod
from subscription_app.integrations.models import WebhookAttempt, WebhookDelivery
from tests.support.integrations import EP, register, sign_up
from tests.support.payment_fixtures import drain

pytestmark = [pytest.mark.subscription]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DIES_AT_THE_CALL = textwrap.dedent("""
    import os, sys
    from core import http
    from core.settings import load_settings
    from jobs.apps import create_app
    from subscription_app.integrations import delivery

    class Killed:
        def post(self, *args, **kwargs):
            os._exit(9)  # the worker dies in the middle of the HTTP call: nothing after runs

    app = create_app("subscription", load_settings().with_overrides(app_env="test"))
    http.session = lambda: Killed()
    with app.app_context():
        delivery.deliver(sys.argv[1])
    sys.exit(0)  # not reached
""")


@pytest.fixture
def admin(make_user):
    return make_user("ops@example.com", role="admin")[1]


def _die_delivering(settings, delivery_id: str) -> int:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "APP_ENV": "test", "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-c", DIES_AT_THE_CALL, delivery_id], cwd=REPO, env=env,
                          capture_output=True, timeout=60).returncode


def _rows(app):
    with app.app_context():
        [d] = db.session.query(WebhookDelivery).all()
        attempts = db.session.query(WebhookAttempt).order_by(WebhookAttempt.id).all()
        db.session.expunge_all()
        return d, attempts


def test_a_worker_killed_at_the_call_leaves_an_interrupted_attempt_that_the_retry_counts(
        app, client, admin, receiver, redis_conn, settings):
    endpoint = register(client, admin, receiver)
    receiver.stop()  # nothing answers while the worker dies
    sign_up(client, "killed@example.com")
    with app.app_context():
        [delivery_id] = db.session.scalars(db.select(WebhookDelivery.id)).all()
        db.session.rollback()
    for name in QUEUE_NAMES:
        Queue(name, connection=redis_conn).empty()  # the killed worker had taken its job off the queue
    assert _die_delivering(settings, delivery_id) == 9
    d, attempts = _rows(app)
    assert (d.status, d.attempts) == ("pending", 0)  # the killed job's own transaction rolled back...
    [in_flight] = attempts  # ...but its attempt was written down before the call
    assert in_flight.status_code is None and in_flight.error == delivery_mod.IN_FLIGHT
    receiver.start()
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(seconds=15), tick=True):
        with app.app_context():
            assert delivery_mod.sweep() == 1
        drain(redis_conn)
    d, attempts = _rows(app)
    assert (d.status, d.attempts) == ("succeeded", 2)  # the killed attempt counted: this one is the second
    assert [(a.status_code, a.error) for a in attempts] == [(None, delivery_mod.INTERRUPTED), (200, None)]
    log = client.get(f"{EP}/{endpoint['id']}/deliveries", headers=admin).json["items"]
    assert [(x["status"], x["attempts"]) for x in log] == [("succeeded", 2)]  # what the operator sees
    assert len(receiver.verified("customer.created")) == 1
