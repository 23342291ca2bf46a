"""Two billing runs at once share the due subscriptions (FOR UPDATE SKIP LOCKED): one renewal each."""
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import clock
from core.extensions import db
from subscription_app.billing.periods import add_interval
from subscription_app.models import Invoice, Subscription, SubscriptionOutbox, User
from tests.support.billing_support import PRO_MONTHLY_ID, run_cycle

pytestmark = [pytest.mark.reliability, pytest.mark.calendar]


def _due_subscriptions(app, n: int) -> None:
    """n subscriptions whose whole monthly period lies in the past: one renewal makes each current."""
    with app.app_context():
        start = clock.utcnow() - timedelta(days=40)
        end = add_interval(start, "month")  # 28-31 days later, as the periods module counts them
        users = [User(email=f"bulk{i}@example.com", password_hash="x") for i in range(n)]
        db.session.add_all(users)
        db.session.flush()
        db.session.add_all([Subscription(id=uuid.uuid4(), user_id=u.id, plan_id=PRO_MONTHLY_ID, status="active",
                                         current_period_start=start, current_period_end=end,
                                         billing_cycle_anchor=start,
                                         payment_method_id=uuid.uuid4()) for u in users])
        db.session.commit()


def _parallel_cycles(app, workers: int) -> list:
    results, barrier = [], threading.Barrier(workers)

    def go():
        barrier.wait()
        results.append(run_cycle()["renewed_or_ended"])

    threads = [threading.Thread(target=go) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _counts(app):
    with app.app_context():
        invoices = db.session.scalar(select(func.count()).select_from(Invoice)
                                     .where(Invoice.reason == "subscription_cycle"))
        per_sub = max(db.session.scalars(select(func.count()).select_from(Invoice)
                                         .group_by(Invoice.subscription_id)).all())
        events = db.session.scalar(select(func.count()).select_from(SubscriptionOutbox))
        return invoices, per_sub, events


def test_parallel_runs_renew_each_subscription_once(app, seeded):
    _due_subscriptions(app, 60)
    results = _parallel_cycles(app, 3)
    assert sum(results) == 60
    assert _counts(app) == (60, 1, 60)
    assert sum(_parallel_cycles(app, 2)) == 0


@pytest.mark.slow
def test_renewal_throughput(app, seeded, capsys):
    n = 2000
    _due_subscriptions(app, n)
    started = time.perf_counter()
    results = _parallel_cycles(app, 2)
    elapsed = time.perf_counter() - started
    assert sum(results) == n and _counts(app) == (n, 1, n)
    with capsys.disabled():
        print(f"\nrenewed {n} subscriptions with 2 parallel runs in {elapsed:.2f}s ({n / elapsed:.0f}/s)")
