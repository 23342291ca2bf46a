"""Usage counters on their own Redis (USAGE_REDIS_URL) and on a 3-node Redis Cluster
(USAGE_REDIS_CLUSTER=true): metering, ingestion and the period close's seal, all Lua scripts.

Each server is a private redis-server started here on loopback ports 7101-7104, shifted per xdist worker (never the
shared Redis), so flushing its scripts or data affects nobody else.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app.billing import renewals
from subscription_app.models import Invoice, InvoiceLine, Plan, Subscription
from subscription_app.usage import keys, ledger
from tests.support.billing_support import BASIC_MONTHLY_ID
from tests.support.redis_servers import cluster, needs_redis_server, standalone
from tests.support.usage_support import app_on_usage_redis, hammer, make_plan, new_subscriber, subscribe, use

pytestmark = [pytest.mark.subscription, pytest.mark.reliability, needs_redis_server]

# Each pytest-xdist worker shifts the ports by 10 so two workers never share a private server.
_SHIFT = 10 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
STANDALONE_PORT = 7104 + _SHIFT
CLUSTER_PORTS = (7101 + _SHIFT, 7102 + _SHIFT, 7103 + _SHIFT)


@pytest.fixture(scope="module")
def own_redis_url(tmp_path_factory):
    with standalone(STANDALONE_PORT, tmp_path_factory.mktemp("usage-redis")) as url:
        yield url


@pytest.fixture
def own_redis_app(own_redis_url, app):
    usage_app = app_on_usage_redis(own_redis_url)
    yield usage_app
    usage_app.extensions["usage_store"].client.flushdb()  # our private server only
    with usage_app.app_context():
        db.engine.dispose()


@pytest.fixture
def subscriber(app, make_user):
    return new_subscriber(make_user)


def test_counters_live_on_the_usage_redis(own_redis_app, redis_conn, subscriber):
    user, headers, sub = subscriber
    client = own_redis_app.test_client()
    assert use(client, headers, delta=2).json["used"] == 2
    key = keys.counter(user.id, "widgets", int(sub.current_period_start.timestamp()))
    assert own_redis_app.extensions["usage_store"].client.get(key) == "2"
    assert redis_conn.get(key) is None  # not on the application's Redis


def test_script_flush_is_survived(own_redis_app, subscriber):
    _, headers, _ = subscriber
    client = own_redis_app.test_client()
    assert use(client, headers).json["used"] == 1
    own_redis_app.extensions["usage_store"].client.script_flush()
    assert use(client, headers).json["used"] == 2  # NOSCRIPT -> redis-py loads it again


def test_flushed_redis_continues_from_the_ledger(own_redis_app, subscriber):
    user, headers, _ = subscriber
    client = own_redis_app.test_client()
    use(client, headers, delta=6)
    with own_redis_app.app_context():
        assert ledger.sync_dirty()["rows"] == 1
    use(client, headers, delta=1)  # not synced: lost with the flush below
    own_redis_app.extensions["usage_store"].client.flushdb()
    assert use(client, headers, delta=1).json["used"] == 7  # ledger (6) + 1


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    with cluster(CLUSTER_PORTS, tmp_path_factory.mktemp("usage-cluster")) as url:
        yield url


@pytest.fixture
def cluster_app(cluster_url, app):
    usage_app = app_on_usage_redis(cluster_url, cluster_mode=True)
    yield usage_app
    client = usage_app.extensions["usage_store"].client
    client.flushdb(target_nodes=client.PRIMARIES)
    client.close()
    with usage_app.app_context():
        db.engine.dispose()


def test_cluster_parallel_requests_never_exceed_the_limit(cluster_app, subscriber):
    from redis.cluster import RedisCluster

    user, headers, sub = subscriber
    store = cluster_app.extensions["usage_store"].client
    assert isinstance(store, RedisCluster) and len(store.get_primaries()) == 3
    codes = hammer(cluster_app, headers, 50 + 200)
    assert codes.count(200) == 50 and codes.count(429) == 200
    ps = int(sub.current_period_start.timestamp())
    assert store.get(keys.counter(user.id, "widgets", ps)) == "50"
    with cluster_app.app_context():
        assert ledger.sync_dirty()["rows"] == 1
    client = cluster_app.test_client()
    assert client.get("/v1/usage/widgets", headers=headers).json["used"] == 50
    listing = client.get("/v1/usage", headers=headers).json["features"]  # one MGET, one slot
    assert {f["feature"]: f["used"] for f in listing} == {"reports": 0, "unmetered": 0, "widgets": 50}


def test_cluster_admin_reset(cluster_app, subscriber, make_user):
    user, headers, sub = subscriber
    _, admin_headers = make_user(role="admin")
    client = cluster_app.test_client()
    use(client, headers, delta=5)
    response = client.post("/v1/usage/reset", json={"user_id": user.id}, headers=admin_headers)
    assert response.status_code == 200
    assert {r["feature"]: r["previous_used"] for r in response.json["reset"]}["widgets"] == 5
    assert use(client, headers).json["used"] == 1


def test_cluster_sync_sweep_and_rehydration(cluster_app, subscriber, make_user):
    user, headers, sub = subscriber
    client = cluster_app.test_client()
    others = [make_user() for _ in range(4)]
    plan = make_plan({"widgets": 10})
    for other, other_headers in others:  # users spread over the cluster's slots
        subscribe(other, plan)
        assert use(client, other_headers, delta=3).status_code == 200
    assert use(client, headers, delta=5, **{"Idempotency-Key": "k1"}).json["used"] == 5
    assert use(client, headers, delta=5, **{"Idempotency-Key": "k1"}).json["replayed"] is True
    store = cluster_app.extensions["usage_store"].client
    nodes = {store.get_node_from_key(keys.dirty(u.id)).name for u, _ in [*others, (user, None)]}
    assert len(nodes) >= 2  # the sync below really spans nodes
    store.delete(keys.index_shard(user.id))  # a lost announce
    with cluster_app.app_context():
        assert ledger.sync_status()["dirty_users"] == 4
        assert ledger.sync_dirty()["users"] == 4
        assert ledger.sweep_unindexed() == 1
        assert ledger.sync_dirty()["rows"] == 1
    store.delete(keys.counter(user.id, "widgets", int(sub.current_period_start.timestamp())))
    assert use(client, headers, delta=1).json["used"] == 6


def _event(user_id, event_id, quantity=1, feature="widgets"):
    return {"event_id": event_id, "customer": user_id, "feature": feature, "quantity": quantity,
            "timestamp": clock.utcnow().isoformat()}


def test_cluster_ingestion_counts_each_event_once_across_nodes(cluster_app, make_user, service_headers):
    customers = [new_subscriber(make_user) for _ in range(4)]  # users spread over the cluster's slots
    store = cluster_app.extensions["usage_store"].client
    assert len({store.get_node_from_key(keys.counter(u.id, "widgets", 0)).name for u, _, _ in customers}) >= 2
    with cluster_app.app_context():
        events = [_event(u.id, f"cl-{u.id}-{i}", quantity=2) for u, _, _ in customers for i in range(5)]
    batches = [events[n:n + 12] for n in range(0, 20, 4)]  # overlapping: most events sent 2 or 3 times

    def send(batch):
        with cluster_app.test_client() as c:
            return c.post("/v1/usage/events", json={"events": batch}, headers=service_headers).json

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(send, batches))
    assert sum(a["accepted"] for a in answers) == 20
    assert sum(a["duplicate"] for a in answers) == sum(len(b) for b in batches) - 20
    client = cluster_app.test_client()
    assert [client.get("/v1/usage/widgets", headers=h).json["used"] for _, h, _ in customers] == [10] * 4
    store.flushdb(target_nodes=store.PRIMARIES)  # the dedupe is in PostgreSQL: a flushed cluster forgets nothing
    again = send(events)
    assert (again["accepted"], again["duplicate"]) == (0, 20)


def test_cluster_period_close_seals_and_a_late_increment_moves_on(cluster_app, seeded, make_user):
    client = cluster_app.test_client()
    admin_h = make_user(role="admin")[1]
    pricing = {"api_calls": {"included": 1000, "limit_mode": "soft", "model": "per_unit", "unit_amount_cents": 2}}
    assert client.patch(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", json={"usage_pricing": pricing},
                        headers=admin_h).status_code == 200
    user, h = make_user()
    start = clock.utcnow() - timedelta(days=30, seconds=5)
    sub = subscribe(user, db.session.get(Plan, BASIC_MONTHLY_ID), start=start, days=30)  # P just ended
    assert use(client, h, "api_calls", 1500).status_code == 200  # the entitlement of P is cached
    with cluster_app.app_context():
        renewing = db.session.get(Subscription, sub.id)
        renewals.renew_or_end(renewing, clock.utcnow())  # P sealed, the renewal not committed yet
        with ThreadPoolExecutor(max_workers=1) as pool:
            late = pool.submit(lambda: use(cluster_app.test_client(), h, "api_calls", 7))
            time.sleep(0.5)
            assert not late.done()  # waits for the closing transaction
            db.session.commit()
            answer = late.result(timeout=15)
    assert answer.status_code == 200 and answer.json["used"] == 7  # counted in P+1
    with cluster_app.app_context():
        line = db.session.scalar(select(InvoiceLine).join(Invoice).where(
            Invoice.subscription_id == sub.id, Invoice.reason == "subscription_cycle", InvoiceLine.kind == "usage"))
        assert (line.quantity, line.billable, line.amount_cents) == (1500, 500, 1000)
