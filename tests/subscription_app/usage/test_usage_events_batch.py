"""POST /v1/usage/events counts a whole batch in one metering call (metering.use_batch, issue #17 benchmarks).

The batch must answer exactly what one metering call per event, in the batch's order, would have:
these pin that on one Redis (one script call for the batch) and on a Redis Cluster (one per customer),
and that the batch's PostgreSQL statements do not grow with its size.
"""
import dataclasses
import os
import uuid

import pytest
from sqlalchemy import event, select, text

from core import clock
from core.extensions import db
from subscription_app.catalog.audit import CLI
from subscription_app.usage import api_keys, keys
from subscription_app.usage.event_schemas import BatchResultSchema, EventResultSchema
from subscription_app.usage.models import EVENT_COUNTED, ApiKey, UsageEvent
from tests.support.redis_servers import cluster, needs_redis_server
from tests.support.usage_support import app_on_usage_redis, make_plan, subscribe

pytestmark = [pytest.mark.subscription]
# Shifted per pytest-xdist worker as the topology tests' ports (7101-7104 + 10 per worker) are.
_SHIFT = 10 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
CLUSTER_PORTS = (7106 + _SHIFT, 7107 + _SHIFT, 7108 + _SHIFT)


def _ev(user_id, quantity=1, feature="widgets"):
    return {"event_id": uuid.uuid4().hex, "customer": user_id, "feature": feature, "quantity": quantity,
            "timestamp": clock.utcnow().isoformat()}


def _post(client, events, service_headers):
    r = client.post("/v1/usage/events", json={"events": events}, headers=service_headers)
    assert r.status_code == 200, r.json
    return r.json


def _used(client, headers, user, feature="widgets"):
    return client.get(f"/v1/usage/{feature}", headers=headers[user.id]).json["used"]


@pytest.fixture
def customers(app, make_user):
    """Three subscribers of one metered plan (widgets 50, reports 5), and their auth headers by id."""
    plan = make_plan()
    users, headers = [], {}
    for _ in range(3):
        user, headers[len(users)] = make_user()
        subscribe(user, plan)
        users.append(user)
    return users, {u.id: headers[i] for i, u in enumerate(users)}


@pytest.fixture
def script_calls(app):
    """How many times the batch script runs (the real script, only counted)."""
    store = app.extensions["usage_store"]
    calls = []

    def counted(*args, **kwargs):
        calls.append(kwargs.get("keys"))
        return store.use_batch(*args, **kwargs)

    app.extensions["usage_store"] = dataclasses.replace(store, use_batch=counted)
    yield calls
    app.extensions["usage_store"] = store


def test_a_users_events_meet_the_hard_limit_in_batch_order(client, customers, service_headers):
    users, token = customers
    u = users[0]
    events = [_ev(u.id, 30), _ev(u.id, 30), _ev(u.id, 20), _ev(u.id, 1)]
    answer = _post(client, events, service_headers)
    statuses = [(r["status"], r.get("reason")) for r in answer["results"]]
    # 30 fits, 30 more would pass 50, 20 still fits (50), then 1 is over: as four `use` calls in a row.
    assert statuses == [("accepted", None), ("rejected", "limit_exceeded"), ("accepted", None),
                        ("rejected", "limit_exceeded")]
    assert answer["results"][1]["message"] == "Usage limit reached for 'widgets': 30 of 50 used this period"
    assert _used(client, token, u) == 50


def test_one_script_call_counts_every_customer_and_feature_of_a_batch(client, customers, service_headers,
                                                                     script_calls):
    users, token = customers
    # Caches the entitlements and creates both counters of each user.
    _post(client, [_ev(u.id, 1, f) for u in users for f in ("widgets", "reports")], service_headers)
    script_calls.clear()
    events = [_ev(users[i % 3].id, 1, "widgets" if i % 2 else "reports") for i in range(12)]
    events.append(_ev(users[1].id, 4, "reports"))  # 3 + 4 would pass its limit of 5
    answer = _post(client, events, service_headers)
    assert len(script_calls) == 1
    assert (answer["accepted"], answer["rejected"]) == (12, 1)
    assert answer["results"][-1]["reason"] == "limit_exceeded"
    assert [_used(client, token, u, "widgets") for u in users] == [1 + 2, 1 + 2, 1 + 2]
    assert [_used(client, token, u, "reports") for u in users] == [1 + 2, 1 + 2, 1 + 2]


def test_lost_counters_and_entitlements_are_repaired_for_the_users_that_need_it(app, client, customers,
                                                                               service_headers, script_calls):
    users, token = customers
    _post(client, [_ev(u.id, 4) for u in users], service_headers)
    redis = app.extensions["usage_store"].client
    ps = int(app.extensions["usage_store"].client.hget(keys.entitlement(users[0].id), "ps"))
    redis.delete(keys.event_counter(users[0].id, "widgets", ps))  # rehydrated from the counted events (4)
    redis.delete(keys.entitlement(users[1].id))  # read again from PostgreSQL
    script_calls.clear()
    answer = _post(client, [_ev(u.id, 2) for u in users], service_headers)
    assert answer["accepted"] == 3
    assert [_used(client, token, u) for u in users] == [6, 6, 6]
    assert len(script_calls) == 2  # the batch, then only the user whose counter was missing
    assert len(script_calls[1]) == 4  # that user's entitlement, seal, and one feature's two counters


def test_a_subscriber_who_lost_entitlement_gets_every_event_refused_with_its_reason(client, customers,
                                                                                   service_headers, app):
    users, _ = customers
    redis = app.extensions["usage_store"].client
    _post(client, [_ev(users[0].id)], service_headers)
    redis.hset(keys.entitlement(users[0].id), mapping={"e": "0", "why": "Subscription is paused"})
    answer = _post(client, [_ev(users[0].id), _ev(users[0].id), _ev(users[2].id)], service_headers)
    assert [(r["status"], r.get("reason"), r.get("message")) for r in answer["results"]][:2] == [
        ("rejected", "not_entitled", "Subscription is paused")] * 2
    assert answer["results"][2]["status"] == "accepted"


def test_the_answer_is_exactly_what_its_schema_would_dump(client, customers, service_headers):
    """The route sends the answer without a per-field dump: every answer kind must already be in the schema's shape."""
    users, _ = customers
    twice = _ev(users[0].id)
    events = [_ev(users[0].id, 3, "reports"), twice, twice, _ev(users[1].id, 6, "reports"),
              {**_ev(users[1].id), "quantity": "1"}, {"customer": users[2].id}, _ev(10**9), _ev(users[2].id, 1, "nope")]
    answer = _post(client, events, service_headers)
    assert [(r["status"], r.get("reason")) for r in answer["results"]] == [
        ("accepted", None), ("accepted", None), ("duplicate", None), ("rejected", "limit_exceeded"),
        ("rejected", "invalid"), ("rejected", "invalid"), ("rejected", "unknown_customer"),
        ("rejected", "unknown_feature")]
    assert answer == BatchResultSchema().dump(answer)
    assert set(answer) == {"results", "accepted", "duplicate", "rejected"}
    assert all(set(r) <= set(EventResultSchema().fields) for r in answer["results"])
    assert answer["results"][5]["event_id"] is None and "event_id" in answer["results"][5]["errors"]


@pytest.fixture
def statements(app):
    """The SQL statements the app sends (their text), while the test runs."""
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_a_batchs_statements_do_not_grow_with_its_events(client, customers, service_headers, statements):
    ids = [u.id for u in customers[0]]
    _post(client, [_ev(uid, 1, f) for uid in ids for f in ("widgets", "reports")], service_headers)
    counts = []
    for size in (3, 30):
        batch = [_ev(ids[i % 3], 1, "widgets") for i in range(size)]
        statements.clear()
        _post(client, batch, service_headers)
        counts.append(len(statements))
        # One read of the customers, one shared lock and one period re-check for all of them, one insert,
        # one state update: per batch, not per event.
        assert sum("FROM users" in q for q in statements) == 1
        assert sum("pg_advisory_xact_lock_shared" in q for q in statements) == 1
        assert sum("INSERT INTO usage_events" in q for q in statements) == 1
        assert sum(q.lstrip().startswith("UPDATE usage_events") for q in statements) == 1
    assert counts[0] == counts[1]


def test_a_batchs_counted_update_stays_on_its_rows_pages(app, client, customers, service_headers):
    """fillfactor 50 (0027_ingest): the pending -> counted update is heap-only, its rows stay on their pages."""
    ids = [u.id for u in customers[0]]
    where = "SELECT id, (ctid::text::point)[0]::int FROM usage_events"
    with app.app_context():
        engine = db.engine
        assert db.session.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'usage_events'")) == [
            "fillfactor=50"]
    pages_before = {}

    def before_update(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("UPDATE usage_events"):  # the insert is committed: read its pages
            with engine.connect() as other:
                pages_before.update(other.execute(text(where)).all())

    event.listen(engine, "before_cursor_execute", before_update)
    try:
        # 100 rows take two full pages: on full pages their new versions would have to go elsewhere.
        _post(client, [_ev(ids[i % 3], 1, "widgets") for i in range(100)], service_headers)
    finally:
        event.remove(engine, "before_cursor_execute", before_update)
    with app.app_context():
        pages_after = dict(db.session.execute(text(where)).all())
        counted = db.session.scalar(select(db.func.count()).select_from(UsageEvent)
                                    .where(UsageEvent.state == EVENT_COUNTED))
    assert len(pages_before) == 100 and counted == 100
    assert pages_after == pages_before


def test_events_finding_their_period_sealed_are_billed_with_it_and_not_counted(app, client, customers,
                                                                              service_headers):
    """A close sealed the period after the batch's insert committed: the close bills the rows, Redis adds nothing."""
    users, token = customers
    u = users[0]
    _post(client, [_ev(u.id, 2)], service_headers)
    redis = app.extensions["usage_store"].client
    ps = int(redis.hget(keys.entitlement(u.id), "ps"))
    redis.set(keys.sealed(u.id), ps)
    answer = _post(client, [_ev(u.id, 3), _ev(u.id, 4)], service_headers)
    assert answer["accepted"] == 2
    assert int(redis.get(keys.event_counter(u.id, "widgets", ps))) == 2
    with app.app_context():
        rows = db.session.execute(select(UsageEvent.quantity, UsageEvent.state, UsageEvent.period_start)
                                  .where(UsageEvent.user_id == u.id).order_by(UsageEvent.quantity)).all()
    assert [(q, state, int(start.timestamp())) for q, state, start in rows] == [
        (2, EVENT_COUNTED, ps), (3, EVENT_COUNTED, ps), (4, EVENT_COUNTED, ps)]


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    with cluster(CLUSTER_PORTS, tmp_path_factory.mktemp("events-cluster")) as url:
        yield url


@needs_redis_server
@pytest.mark.reliability
def test_on_a_cluster_every_customer_is_counted_in_its_own_slot(cluster_url, app, make_user, service_headers):
    usage_app = app_on_usage_redis(cluster_url, cluster_mode=True)
    store = usage_app.extensions["usage_store"]
    try:
        plan = make_plan({"widgets": 10})
        made = [make_user() for _ in range(5)]
        users = [user for user, _ in made]
        for user in users:
            subscribe(user, plan)
        assert len({store.client.get_node_from_key(keys.dirty(u.id)).name for u in users}) >= 2
        client = usage_app.test_client()
        events = [_ev(users[i % 5].id, 3) for i in range(20)]  # 4 events of 3 each: the 4th passes 10
        answer = _post(client, events, service_headers)
        assert (answer["accepted"], answer["rejected"]) == (15, 5)
        assert [client.get("/v1/usage/widgets", headers=h).json["used"] for _, h in made] == [9] * 5
        with usage_app.app_context():  # the accepted ones are billed, the refused ones gone
            states = db.session.scalars(select(UsageEvent.state).where(
                UsageEvent.user_id.in_([u.id for u in users]))).all()
        assert states == [EVENT_COUNTED] * 15
    finally:
        store.client.flushdb(target_nodes=store.client.PRIMARIES)
        store.client.close()
        with usage_app.app_context():
            db.engine.dispose()


def test_an_api_keys_last_use_is_written_at_most_once_a_minute(app, client, customers):
    users, _ = customers
    with app.app_context():
        key, plaintext = api_keys.create("backend", CLI)
        db.session.commit()
        key_id = key.id

    def last_used():
        with app.app_context():
            return db.session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))

    headers = {"X-Api-Key": plaintext}
    assert last_used() is None
    _post(client, [_ev(users[0].id)], headers)
    first = last_used()
    assert first is not None
    clock.set_offset(59)
    _post(client, [_ev(users[0].id)], headers)
    assert last_used() == first  # a read, no row lock: parallel batches do not queue on the key
    clock.set_offset(61)
    _post(client, [_ev(users[0].id)], headers)
    assert last_used() > first
    with app.app_context():
        api_keys.revoke(key_id, CLI)
        db.session.commit()
    assert client.post("/v1/usage/events", json={"events": [_ev(users[0].id)]}, headers=headers).status_code == 401
