"""Usage across billing periods, entitlement changes, admin reset, stats, health and CLI."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app.usage import keys, ledger
from subscription_app.usage.models import UsageCounter
from tests.support.usage_support import make_plan, subscribe, use

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def plan(app):
    return make_plan()


def ledger_used(user_id, feature="widgets"):
    db.session.expire_all()
    rows = db.session.scalars(select(UsageCounter).where(UsageCounter.user_id == user_id,
                                                         UsageCounter.feature == feature)
                              .order_by(UsageCounter.period_start)).all()
    return [r.used for r in rows]


def renew(sub):
    """What a renewal does to the row: the next period starts where the last one ended."""
    sub.current_period_start = sub.current_period_end
    sub.current_period_end = sub.current_period_end + timedelta(days=30)
    db.session.commit()


def test_new_period_starts_at_zero_and_history_stays(client, make_user, plan):
    user, headers = make_user()
    sub = subscribe(user, plan, start=clock.utcnow() - timedelta(days=31))  # a period that already ended
    assert use(client, headers, delta=9).json["used"] == 9
    ledger.sync_dirty()
    clock.set_offset(2 * 86400)
    renew(sub)  # the after_commit hook drops the cached entitlement
    fresh = use(client, headers, delta=2).json
    assert fresh["used"] == 2 and fresh["period_start"].startswith(sub.current_period_start.isoformat()[:19])
    ledger.sync_dirty()
    assert ledger_used(user.id) == [9, 2]
    stats = client.get("/v1/usage/stats", headers=headers).json
    assert stats["past_totals"] == {"widgets": 9} and stats["past_period_count"] == 1
    assert stats["past_periods"][0]["features"] == {"widgets": 9}
    current = {f["feature"]: f for f in stats["current_period"]["features"]}
    assert current["widgets"] == {"feature": "widgets", "used": 2, "limit": 50, "percent": 4.0}
    assert current["unmetered"]["percent"] is None


def test_subscription_change_applies_at_once(client, make_user, plan):
    user, headers = make_user()
    sub = subscribe(user, plan)
    assert use(client, headers).status_code == 200
    sub.status = "canceled"
    db.session.commit()
    assert use(client, headers).status_code == 403
    bigger = make_plan({"widgets": 500})
    subscribe(user, bigger)
    assert use(client, headers).json["limit"] == 500


def test_stale_loader_cannot_cache_over_an_invalidation(app, make_user, plan):
    from subscription_app.usage import entitlements

    user, _ = make_user()
    sub = subscribe(user, plan)
    store = app.extensions["usage_store"]
    seen = store.client.get(keys.entitlement_generation(user.id)) or "0"
    sub.status = "canceled"
    db.session.commit()  # invalidation bumps the generation
    stored = store.store_entitlement(keys=[keys.entitlement(user.id), keys.entitlement_generation(user.id)],
                                     args=[seen, 30, "e", "1", "ps", "0", "pe", "0"])
    assert stored == 0 and not store.client.exists(keys.entitlement(user.id))
    assert entitlements.cached_entitlement(user.id).entitled is False


def test_reset_is_admin_only(client, make_user, plan):
    user, headers = make_user()
    subscribe(user, plan)
    use(client, headers, delta=5)
    for body in ({"user_id": user.id}, {"bogus": 1}):
        refused = client.post("/v1/usage/reset", json=body, headers=headers)
        assert refused.status_code == 403 and refused.json["message"] == "Admin role required"
    assert client.get("/v1/usage/widgets", headers=headers).json["used"] == 5


def test_admin_reset_zeroes_both_stores_and_survives_a_sync(app, client, make_user, plan):
    user, headers = make_user()
    sub = subscribe(user, plan)
    _, admin_headers = make_user(role="admin")
    use(client, headers, delta=5)
    use(client, headers, "reports", 2)
    ledger.sync_dirty()
    use(client, headers, delta=1)  # dirty, not yet synced when the reset lands
    response = client.post("/v1/usage/reset", json={"user_id": user.id, "feature": "widgets"}, headers=admin_headers)
    assert response.status_code == 200, response.json
    assert response.json["reset"] == [{"feature": "widgets", "previous_used": 6}]
    ps = int(sub.current_period_start.timestamp())
    assert app.extensions["usage_store"].client.get(keys.counter(user.id, "widgets", ps)) == "0"
    assert ledger_used(user.id) == [0]
    ledger.sync_dirty()
    assert ledger_used(user.id) == [0]
    assert client.get("/v1/usage/reports", headers=headers).json["used"] == 2  # other features untouched
    everything = client.post("/v1/usage/reset", json={"user_id": user.id}, headers=admin_headers).json
    assert {r["feature"] for r in everything["reset"]} == {"widgets", "reports", "unmetered"}
    assert ledger_used(user.id, "reports") == [0]
    assert use(client, headers).json["used"] == 1


@pytest.mark.parametrize("body,code", [
    ({"user_id": 999999}, 404), ({"user_id": "1"}, 422), ({}, 422), ({"user_id": 1, "feature": "x y"}, 422),
])
def test_reset_bad_input(client, make_user, body, code):
    _, admin_headers = make_user(role="admin")
    assert client.post("/v1/usage/reset", json=body, headers=admin_headers).status_code == code


def test_reset_needs_a_current_period(client, make_user, plan):
    user, _ = make_user()
    _, admin_headers = make_user(role="admin")
    assert client.post("/v1/usage/reset", json={"user_id": user.id}, headers=admin_headers).status_code == 409
    subscribe(user, plan)
    response = client.post("/v1/usage/reset", json={"user_id": user.id, "feature": "teleport"}, headers=admin_headers)
    assert response.status_code == 404


def test_stats_without_subscription_still_shows_history(client, make_user):
    _, headers = make_user()
    body = client.get("/v1/usage/stats", headers=headers).json
    assert body["current_period"] is None and body["past_totals"] == {}


def test_health_queues_shows_sync_lag(client, make_user, plan):
    user, headers = make_user()
    subscribe(user, plan)
    use(client, headers)
    status = client.get("/v1/health/queues").json["periodic_jobs"]["usage-sync"]
    assert status["dirty_users"] == 1 and status["oldest_unsynced_change_seconds"] >= 0
    assert status["interval_seconds"] == 10
    ledger.sync_dirty()
    status = client.get("/v1/health/queues").json["periodic_jobs"]["usage-sync"]
    assert status["dirty_users"] == 0 and status["last_sync_at"] is not None


def test_sync_now_cli(app, client, make_user, plan):
    user, headers = make_user()
    subscribe(user, plan)
    use(client, headers, delta=3)
    runner = app.test_cli_runner()
    assert "Sync every counter changed" in runner.invoke(args=["usage", "sync-now", "--help"]).output
    result = runner.invoke(args=["usage", "sync-now"])
    assert result.exit_code == 0 and "synced 1 counters of 1 users" in result.output
    assert ledger_used(user.id) == [3]


def test_scheduled_sync_job_runs_on_a_worker(app, client, make_user, plan, redis_conn):
    from rq import SimpleWorker
    from rq_scheduler import Scheduler

    from jobs import scheduler as scheduler_module
    from core.queues import QUEUE_NAMES, get_queue

    user, headers = make_user()
    subscribe(user, plan)
    use(client, headers, delta=4)
    scheduler_module.register(Scheduler(connection=redis_conn))
    Scheduler(connection=redis_conn).enqueue_jobs()
    SimpleWorker([get_queue(n) for n in QUEUE_NAMES], connection=redis_conn).work(burst=True)
    assert ledger_used(user.id) == [4]
    status = client.get("/v1/health/queues").json["periodic_jobs"]["usage-sync"]
    assert status["last_run"] is not None and status["overdue"] is False and status["dirty_users"] == 0


def test_extended_period_syncs_as_one_row(client, make_user, plan):
    user, headers = make_user()
    sub = subscribe(user, plan)
    use(client, headers, delta=2)
    sub.current_period_end = sub.current_period_end + timedelta(days=5)  # same start, later end
    db.session.commit()
    assert use(client, headers, delta=1).json["used"] == 3  # same counter: same period start
    assert ledger.sync_dirty()["rows"] == 1
    db.session.expire_all()
    row = db.session.scalars(select(UsageCounter).where(UsageCounter.user_id == user.id)).one()
    assert row.used == 3 and int(row.period_end.timestamp()) == int(sub.current_period_end.timestamp())


def test_deleted_user_does_not_block_the_sync(app, client, make_user, plan):
    from sqlalchemy import delete

    from subscription_app.models import Subscription, User

    gone, gone_headers = make_user()
    kept, kept_headers = make_user()
    for user in (gone, kept):
        subscribe(user, plan)
    use(client, gone_headers)
    use(client, kept_headers, delta=2)
    gone_id = gone.id
    db.session.execute(delete(Subscription).where(Subscription.user_id == gone_id))
    db.session.execute(delete(User).where(User.id == gone_id))
    db.session.commit()
    assert ledger.sync_dirty()["users"] == 2
    assert ledger_used(kept.id) == [2] and ledger_used(gone_id) == []
    assert ledger.sync_status()["dirty_users"] == 0
    assert not app.extensions["usage_store"].client.exists(keys.dirty(gone_id))


def test_bulk_update_is_caught_by_the_cache_ttl(app, client, make_user, plan):
    from sqlalchemy import update

    from subscription_app.models import Subscription
    from subscription_app.usage import entitlements

    user, headers = make_user()
    subscribe(user, plan)
    use(client, headers)
    store = app.extensions["usage_store"].client
    ttl = store.ttl(keys.entitlement(user.id))
    assert 0 < ttl <= app.config["SETTINGS"].usage_entitlement_ttl_seconds
    db.session.execute(update(Subscription).where(Subscription.user_id == user.id).values(status="canceled"))
    db.session.commit()  # a bulk UPDATE bypasses the unit of work: no hook, the TTL bounds the staleness
    store.delete(keys.entitlement(user.id))  # what the TTL does at expiry
    assert use(client, headers).status_code == 403
    entitlements.invalidate(user.id)  # or the lifecycle code calls this after such a statement
    assert not store.exists(keys.entitlement(user.id))
