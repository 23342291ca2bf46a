"""Usage metering on real Redis and PostgreSQL: limits, concurrency, idempotency, bad input."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select

from core.extensions import db
from subscription_app.usage import keys, ledger
from subscription_app.usage.models import UsageCounter
from tests.support.usage_support import hammer, make_plan, subscribe, use

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def plan(app):
    return make_plan()


@pytest.fixture
def subscriber(make_user, plan):
    user, headers = make_user()
    sub = subscribe(user, plan)
    return user, headers, sub


def counter_value(app, user, sub, feature="widgets"):
    raw = app.extensions["usage_store"].client.get(keys.counter(user.id, feature, int(sub.current_period_start.timestamp())))
    return None if raw is None else int(raw)


def ledger_rows(user_id):
    db.session.expire_all()
    return {(r.feature, int(r.period_start.timestamp())): r.used
            for r in db.session.scalars(select(UsageCounter).where(UsageCounter.user_id == user_id))}


def test_use_counts_and_reports_remaining(client, subscriber):
    user, headers, sub = subscriber
    first = use(client, headers, delta=3)
    assert first.status_code == 200, first.json
    assert first.json["used"] == 3 and first.json["limit"] == 50 and first.json["remaining"] == 47
    assert first.json["replayed"] is False
    assert use(client, headers, delta=2).json["used"] == 5
    one = client.get("/v1/usage/widgets", headers=headers).json
    assert (one["feature"], one["used"], one["remaining"]) == ("widgets", 5, 45)
    listing = client.get("/v1/usage", headers=headers).json
    assert {f["feature"]: f["used"] for f in listing["features"]} == {"reports": 0, "unmetered": 0, "widgets": 5}


def test_counter_outlives_its_period(app, client, subscriber):
    import time

    user, headers, sub = subscriber
    use(client, headers)
    ttl = app.extensions["usage_store"].client.ttl(keys.counter(user.id, "widgets", int(sub.current_period_start.timestamp())))
    grace = app.config["SETTINGS"].usage_counter_grace_days * 86400
    assert ttl >= sub.current_period_end.timestamp() - time.time() + grace - 5


def test_unmetered_feature_has_no_cap(client, subscriber):
    _, headers, _ = subscriber
    body = use(client, headers, "unmetered", 10000).json
    assert body["used"] == 10000 and body["limit"] is None and body["remaining"] is None


def test_parallel_requests_never_exceed_the_limit(app, subscriber):
    user, headers, sub = subscriber
    codes = hammer(app, headers, 50 + 200)
    assert codes.count(200) == 50 and codes.count(429) == 200
    assert counter_value(app, user, sub) == 50
    ledger.sync_dirty()
    assert ledger_rows(user.id)[("widgets", int(sub.current_period_start.timestamp()))] == 50


def test_over_limit_is_429_with_details_and_counts_nothing(client, subscriber, app):
    user, headers, sub = subscriber
    assert use(client, headers, "reports", 4).status_code == 200
    refused = use(client, headers, "reports", 2)
    assert refused.status_code == 429
    body = refused.json
    assert body["used"] == 4 and body["limit"] == 5 and body["feature"] == "reports"
    assert body["resets_at"].startswith(sub.current_period_end.isoformat()[:19])
    assert 0 < int(refused.headers["Retry-After"]) <= 30 * 86400
    assert counter_value(app, user, sub, "reports") == 4
    assert use(client, headers, "reports", 1).json["remaining"] == 0


def test_hot_path_does_not_touch_postgresql(client, subscriber):
    _, headers, _ = subscriber
    use(client, headers)  # warm: entitlement cached, counter created, token version cached
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for _ in range(5):
            assert use(client, headers).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert statements == []


def test_deleted_counter_continues_from_the_ledger(app, client, subscriber):
    user, headers, sub = subscriber
    use(client, headers, delta=7)
    ledger.sync_dirty()
    store = app.extensions["usage_store"].client
    store.delete(keys.counter(user.id, "widgets", int(sub.current_period_start.timestamp())))
    assert use(client, headers, delta=1).json["used"] == 8
    store.delete(keys.counter(user.id, "widgets", int(sub.current_period_start.timestamp())))
    assert client.get("/v1/usage/widgets", headers=headers).json["used"] == 7  # the ledger (last sync)


def test_sync_is_proportional_to_changed_users_and_moves_forward_only(app, client, plan, make_user):
    users = [make_user() for _ in range(3)]
    for user, headers in users:
        subscribe(user, plan)
        use(client, headers, delta=2)
    assert ledger.sync_status()["dirty_users"] == 3
    assert ledger.sync_dirty()["users"] == 3
    again = ledger.sync_dirty()
    assert (again["users"], again["rows"]) == (0, 0)  # nothing changed: nothing read, nothing written
    use(client, users[0][1])
    assert ledger.sync_dirty()["users"] == 1
    # A stale, lower value never overwrites the ledger.
    ledger.upsert_counters([{"user_id": users[0][0].id, "feature": "widgets", "used": 1,
                     **{k: v for k, v in db.session.execute(select(UsageCounter.period_start, UsageCounter.period_end)
                                                            .where(UsageCounter.user_id == users[0][0].id)).mappings().one().items()}}])
    db.session.commit()
    assert list(ledger_rows(users[0][0].id).values()) == [3]


def test_lost_announce_is_found_by_the_sweep(app, client, subscriber):
    user, headers, sub = subscriber
    use(client, headers, delta=4)
    app.extensions["usage_store"].client.delete(keys.index_shard(user.id))  # as if the process died
    assert ledger.sync_dirty()["users"] == 0
    assert ledger.sweep_unindexed() == 1
    assert ledger.sync_dirty()["rows"] == 1
    assert list(ledger_rows(user.id).values()) == [4]


def test_idempotency_key_is_counted_once(app, client, subscriber):
    user, headers, sub = subscriber
    first = use(client, headers, delta=5, **{"Idempotency-Key": "evt-1"})
    again = use(client, headers, delta=5, **{"Idempotency-Key": "evt-1"})
    assert first.json["used"] == again.json["used"] == 5
    assert again.json["replayed"] is True
    assert counter_value(app, user, sub) == 5
    assert use(client, headers, delta=6, **{"Idempotency-Key": "evt-1"}).status_code == 422
    assert use(client, headers, delta=5, **{"Idempotency-Key": "evt-2"}).json["used"] == 10
    ttl = app.extensions["usage_store"].client.ttl(keys.idempotency(user.id, "evt-1"))
    assert ttl > 86000


def test_concurrent_duplicates_with_one_key_count_once(app, subscriber):
    user, headers, sub = subscriber
    headers = {**headers, "Idempotency-Key": "same-event"}
    codes = hammer(app, headers, 20)
    assert codes == [200] * 20
    assert counter_value(app, user, sub) == 1


@pytest.mark.parametrize("body", [
    {"delta": 0}, {"delta": -1}, {"delta": "1"}, {"delta": 1.5}, {"delta": True}, {"delta": None},
    {"delta": 10001}, {"delta": 10**30}, {}, {"delta": 1, "user_id": 2}, {"amount": 1},
])
def test_bad_delta_is_422_and_counts_nothing(app, client, subscriber, body):
    user, headers, sub = subscriber
    response = client.post("/v1/usage/features/widgets/use", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json["code"] == 422
    assert counter_value(app, user, sub) is None


def test_bad_idempotency_key_is_400(client, subscriber):
    _, headers, _ = subscriber
    assert use(client, headers, **{"Idempotency-Key": "x" * 256}).status_code == 400


def test_delta_bound_is_configurable(app, client, subscriber):
    _, headers, _ = subscriber
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.with_overrides(usage_max_delta=3)
    try:
        assert use(client, headers, delta=4).status_code == 422
        assert use(client, headers, delta=3).status_code == 200
    finally:
        app.config["SETTINGS"] = settings


def test_unknown_feature_is_404(client, subscriber):
    _, headers, _ = subscriber
    assert use(client, headers, "teleport").status_code == 404
    assert client.get("/v1/usage/teleport", headers=headers).status_code == 404


def test_no_subscription_is_403(client, make_user):
    _, headers = make_user()
    response = use(client, headers)
    assert response.status_code == 403 and "subscribe" in response.json["message"]
    assert client.get("/v1/usage", headers=headers).status_code == 403


def test_incomplete_subscription_is_not_entitled(client, make_user, plan):
    user, headers = make_user()
    subscribe(user, plan, status="incomplete")
    response = use(client, headers)
    assert response.status_code == 403 and "incomplete" in response.json["message"]


@pytest.mark.parametrize("status", ["trialing", "past_due"])
def test_trialing_and_past_due_are_entitled(client, make_user, plan, status):
    user, headers = make_user()
    subscribe(user, plan, status=status)
    assert use(client, headers).status_code == 200


def test_unauthenticated_is_401(client):
    assert client.post("/v1/usage/features/widgets/use", json={"delta": 1}).status_code == 401
    assert client.get("/v1/usage").status_code == 401
