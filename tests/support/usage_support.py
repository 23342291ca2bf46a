"""Helpers for the usage tests: a small metered plan and subscriptions inserted directly
(the subscription lifecycle is built elsewhere; these tests only need the rows)."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from core import clock
from core.extensions import db
from subscription_app import create_app
from subscription_app.models import Plan, Subscription
from subscription_app.seed import BASIC_MONTHLY_ID
from tests.conftest import make_settings

LIMITS = {"widgets": 50, "reports": 5, "unmetered": None}


def make_plan(limits: dict | None = None, code: str | None = None) -> Plan:
    plan = Plan(id=uuid.uuid4(), code=code or f"metered_{uuid.uuid4().hex[:8]}", name="Metered test plan",
                price_cents=1000, currency="USD", billing_interval="month", feature_limits=limits or LIMITS)
    db.session.add(plan)
    db.session.commit()
    return plan


def subscribe(user, plan: Plan, status: str = "active", start=None, days: int = 30) -> Subscription:
    start = start or clock.utcnow() - timedelta(days=1)
    sub = Subscription(user_id=user.id, plan_id=plan.id, status=status, current_period_start=start,
                       current_period_end=start + timedelta(days=days), billing_cycle_anchor=start)
    db.session.add(sub)
    db.session.commit()
    return sub


def new_subscriber(make_user):
    """A new user on a new metered plan: (user, auth headers, subscription)."""
    user, headers = make_user()
    return user, headers, subscribe(user, make_plan())


def app_on_usage_redis(url: str, cluster_mode: bool = False):
    """A subscription app like the test one whose usage store is this Redis (a private server or cluster)."""
    app = create_app(make_settings(usage_redis_url=url, usage_redis_cluster=cluster_mode))
    app.testing = True
    return app


def use(client, headers, feature="widgets", delta=1, **extra_headers):
    return client.post(f"/v1/usage/features/{feature}/use", json={"delta": delta},
                       headers={**headers, **extra_headers})


def hammer(app, headers, requests: int, feature="widgets", threads: int = 12) -> list[int]:
    """Fire `requests` use calls from a thread pool (a test client per call); the status codes."""
    def one(_):
        with app.test_client() as c:
            return use(c, headers, feature).status_code

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(requests)))


# Basic's api_calls as a soft limit: 1000 included, then 2 cents each (issue #17's example).
SOFT = {"api_calls": {"included": 1000, "limit_mode": "soft", "model": "per_unit", "unit_amount_cents": 2}}


@pytest.fixture
def basic_soft(client, seeded, make_user):
    h = make_user(email="ops@example.com", role="admin")[1]
    assert client.patch(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", json={"usage_pricing": SOFT},
                        headers=h).status_code == 200
    return h
