"""POST /v1/usage/events: batches, durable dedupe, per-event reasons, API keys (issue #17)."""
import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import clock
from core.extensions import db
from subscription_app.usage import entitlements, keys
from subscription_app.usage.models import ApiKey, UsageEvent
from tests.support.usage_support import make_plan, subscribe

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def admin_h(app, make_user):
    return make_user(email="ops@example.com", role="admin")[1]


@pytest.fixture
def key(client, admin_h):
    r = client.post("/v1/admin/api-keys", json={"name": "backend"}, headers=admin_h)
    assert r.status_code == 201, r.json
    return r.json


@pytest.fixture
def customer(app, make_user):
    user, h = make_user()
    sub = subscribe(user, make_plan())
    return user, h, sub


def _ev(user_id, event_id=None, feature="widgets", quantity=1, at=None):
    return {"event_id": event_id or uuid.uuid4().hex, "customer": user_id, "feature": feature, "quantity": quantity,
            "timestamp": (at or clock.utcnow()).isoformat()}


def _post(client, events, key=None, headers=None):
    return client.post("/v1/usage/events", json={"events": events},
                       headers=headers if headers is not None else {"X-Api-Key": key["key"]})


def _used(client, h, feature="widgets"):
    return client.get(f"/v1/usage/{feature}", headers=h).json["used"]


def test_a_batch_is_counted_and_duplicates_are_answered_as_such(client, key, customer):
    user, h, _ = customer
    events = [_ev(user.id, f"e{i}") for i in range(10)]
    r = _post(client, events + [events[0]], key)
    assert r.status_code == 200 and (r.json["accepted"], r.json["duplicate"]) == (10, 1)
    again = _post(client, events[:5], key).json
    assert again["duplicate"] == 5 and [x["status"] for x in again["results"]] == ["duplicate"] * 5
    assert _used(client, h) == 10


def test_dedupe_survives_a_redis_flush(app, client, key, customer):
    user, h, _ = customer
    events = [_ev(user.id, f"f{i}") for i in range(3)]
    _post(client, events, key)
    app.extensions["redis"].flushdb()
    assert _post(client, events, key).json["duplicate"] == 3


def test_bad_events_are_rejected_one_by_one_with_a_reason(client, key, customer, make_user):
    user, h, sub = customer
    stranger, _ = make_user()
    events = [_ev(user.id, "ok"), _ev(user.id, "future", at=clock.utcnow() + timedelta(minutes=6)),
              _ev(user.id, "late", at=sub.current_period_start - timedelta(seconds=1)),
              _ev(user.id, "nofeat", feature="nope"), _ev(stranger.id, "nosub"), _ev(10**9, "ghost"),
              {**_ev(user.id, "zero"), "quantity": 0}, {"event_id": "shape"}, "not an object",
              _ev(user.id, "over", quantity=60)]
    results = {r["event_id"]: r for r in _post(client, events, key).json["results"]}
    reasons = {i: r.get("reason") for i, r in results.items()}
    assert results["ok"]["status"] == "accepted"
    assert reasons == {"ok": None, "future": "in_future", "late": "period_closed", "nofeat": "unknown_feature",
                            "nosub": "not_entitled", "ghost": "unknown_customer", "zero": "invalid",
                            "shape": "invalid", None: "invalid", "over": "limit_exceeded"}
    assert "quantity" in results["zero"]["errors"]
    with client.application.app_context():  # only the accepted event is kept
        assert db.session.scalars(select(UsageEvent.event_id)).all() == ["ok"]
    assert _used(client, h) == 1


def test_auth_api_key_service_token_user_token_revoked_key(client, key, customer, admin_h, service_headers):
    user, h, _ = customer
    assert _post(client, [_ev(user.id)], headers=service_headers).json["accepted"] == 1
    assert _post(client, [_ev(user.id)], key).json["accepted"] == 1
    assert _post(client, [_ev(user.id)], headers=h).status_code == 401  # a user token is never enough
    assert _post(client, [_ev(user.id)], headers=admin_h).status_code == 401
    assert _post(client, [_ev(user.id)], headers={"X-Api-Key": "usk_wrong"}).status_code == 401
    assert client.post(f"/v1/admin/api-keys/{key['id']}/revoke", headers=admin_h).json["revoked_at"]
    assert _post(client, [_ev(user.id)], key).status_code == 401
    listed = client.get("/v1/admin/api-keys", headers=admin_h).json[0]
    assert "key" not in listed and listed["last_used_at"] and listed["prefix"] == key["key"][:12]
    assert client.post("/v1/admin/api-keys", json={"name": "x"}, headers=h).status_code == 403
    with client.application.app_context():  # hashed at rest
        stored = db.session.scalar(select(ApiKey))
        assert key["key"] not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64


def test_batch_shape_is_a_422_naming_events(client, key):
    assert "events" in _post(client, [], key).json["errors"]["json"]
    assert _post(client, [{}] * 1001, key).status_code == 422


def test_parallel_batches_with_overlapping_ids_count_each_once(app, client, key, customer):
    user, h, _ = customer
    ids = [f"p{i}" for i in range(40)]
    batches = [[_ev(user.id, i) for i in ids[n * 10:n * 10 + 20]] for n in range(3)]  # overlapping windows

    def send(events):
        with app.test_client() as c:
            return _post(c, events, key).json

    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(send, batches * 2))
    assert sum(a["accepted"] for a in answers) == 40
    assert _used(client, h) == 40
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UsageEvent)) == 40


def test_a_full_batch_fits_but_a_larger_body_is_413(client, key, customer):
    user, _, _ = customer
    full = [_ev(user.id, "x" * 200 + str(i)) for i in range(1000)]
    assert _post(client, full, key).json["accepted"] == 50  # the plan's hard limit of 50 widgets
    huge = client.post("/v1/usage/events", data=b"{" + b" " * (1024 * 1024 + 1) + b"}",
                       headers={"X-Api-Key": key["key"], "Content-Type": "application/json"})
    assert huge.status_code == 413


def test_a_redis_loss_forgets_no_event_and_recount_counts_pending_ones(app, client, key, customer):
    user, h, _ = customer
    _post(client, [_ev(user.id, f"r{i}", quantity=2) for i in range(3)], key)
    app.extensions["redis"].flushdb()  # lost before any ledger sync
    assert _used(client, h) == 6  # the event counter is rebuilt from usage_events
    with app.app_context():  # a request that died between its insert and its increment
        db.session.add(UsageEvent(event_id="died", user_id=user.id, feature="widgets", quantity=5, state=0,
                                  occurred_at=clock.utcnow(), period_start=db.session.scalar(
                                      select(UsageEvent.period_start).limit(1))))
        db.session.commit()
    assert _used(client, h) == 6  # billed (it is in usage_events) but not yet counted against the limit
    result = app.test_cli_runner().invoke(args=["usage", "recount", str(user.id)])
    assert result.exit_code == 0 and '"widgets": 11' in result.output
    assert _used(client, h) == 11
    with app.app_context():
        assert db.session.scalar(select(UsageEvent.state).where(UsageEvent.event_id == "died")) == 1


def _link(app, user, external_id):
    from subscription_app.models import User
    with app.app_context():
        db.session.get(User, user.id).external_id = external_id
        db.session.commit()


def test_customer_by_external_id_or_user_id(app, client, key, customer):
    user, h, _ = customer
    _link(app, user, "crm-4711")
    r = _post(client, [_ev("crm-4711", "by-ext", quantity=3), _ev(user.id, "by-id", quantity=2)], key).json
    assert [x["status"] for x in r["results"]] == ["accepted", "accepted"]
    assert _used(client, h) == 5
    with app.app_context():
        assert db.session.scalars(select(UsageEvent.user_id).order_by(UsageEvent.event_id)).all() == [user.id] * 2
    again = _post(client, [_ev("crm-4711", "by-ext", quantity=3)], key).json  # dedupe by event_id, either form
    assert again["duplicate"] == 1 and _used(client, h) == 5


def test_unknown_external_id_and_ambiguous_customer_forms(app, client, key, customer, make_user):
    user, h, _ = customer
    other, other_h = make_user()
    subscribe(other, make_plan())
    _link(app, other, str(user.id))  # an external_id that looks like the first customer's user id
    events = [_ev(user.id, "int"), _ev(str(user.id), "digits"), _ev("crm-unknown", "ghost"),
              _ev(True, "bool"), _ev(1.5, "float"), _ev("", "empty"), _ev(None, "null"), _ev({"id": 1}, "object"),
              _ev("x" * 256, "long")]
    results = {r["event_id"]: r for r in _post(client, events, key).json["results"]}
    assert {i: (r["status"], r.get("reason")) for i, r in results.items()} == {
        "int": ("accepted", None), "digits": ("accepted", None), "ghost": ("rejected", "unknown_customer"),
        "bool": ("rejected", "invalid"), "float": ("rejected", "invalid"), "empty": ("rejected", "invalid"),
        "null": ("rejected", "invalid"), "object": ("rejected", "invalid"), "long": ("rejected", "invalid")}
    assert "crm-unknown" in results["ghost"]["message"]
    assert all("customer" in results[i]["errors"] for i in ("bool", "float", "empty", "null", "object", "long"))
    # A number is a user id, a string an external_id: each went to its own customer.
    assert (_used(client, h), _used(client, other_h)) == (1, 1)


def test_a_batch_reads_only_its_features_of_each_cached_entitlement(app, make_user, customer):
    user, _, _ = customer
    paused, _ = make_user()
    subscribe(paused, make_plan(), status="paused")
    with app.test_request_context():
        full = entitlements.cached_entitlement(user.id)  # reads and caches it
        app.extensions["usage_store"].client.delete(keys.entitlement(paused.id))
        read = entitlements.cached_entitlements([user.id, paused.id, user.id], {"widgets", "nope"})
        cached_again = app.extensions["usage_store"].client.exists(keys.entitlement(paused.id))
    assert set(read) == {user.id, paused.id}
    assert read[user.id] == dataclasses.replace(full, limits={"widgets": full.limits["widgets"]}, alerts={})
    assert not read[paused.id].entitled and read[paused.id].reason == entitlements.PAUSED
    assert cached_again  # not cached: loaded from PostgreSQL and cached, as cached_entitlement does
