"""Idempotency-Key: replay, mismatch, concurrent duplicate, failure release, purge."""
import threading
import time

import pytest
from flask_jwt_extended import jwt_required

from core import idempotency
from core.errors import ApiError
from core.extensions import db
from subscription_app.models import SubscriptionIdempotencyKey


@pytest.fixture
def idem_app(settings):
    """A subscription app with one extra idempotent endpoint that counts its executions."""
    from subscription_app import create_app
    app = create_app(settings)
    calls = {"n": 0, "sleep": 0.0, "fail": False}

    @app.route("/__test/charge", methods=["POST"])
    @jwt_required()
    @idempotency.idempotent(SubscriptionIdempotencyKey)
    def charge():
        calls["n"] += 1
        if calls["n"] == 1 and "hold" in calls:
            assert calls["hold"].wait(10)
        time.sleep(calls["sleep"])
        if calls["fail"]:
            raise ApiError(402, "declined")
        return {"charge": calls["n"]}, 201

    app.calls = calls
    return app


def _post(c, headers, key, body):
    return c.post("/__test/charge", json=body, headers={**headers, "Idempotency-Key": key})


def test_same_key_same_body_replays(idem_app, make_user):
    _, h = make_user()
    c = idem_app.test_client()
    first = _post(c, h, "k1", {"amount": 1})
    second = _post(c, h, "k1", {"amount": 1})
    assert first.status_code == second.status_code == 201
    assert first.json == second.json == {"charge": 1}
    assert second.headers["Idempotent-Replayed"] == "true"
    assert idem_app.calls["n"] == 1


def test_same_key_other_body_is_422(idem_app, make_user):
    _, h = make_user()
    c = idem_app.test_client()
    _post(c, h, "k1", {"amount": 1})
    r = _post(c, h, "k1", {"amount": 2})
    assert r.status_code == 422 and idem_app.calls["n"] == 1


def test_keys_are_per_user(idem_app, make_user):
    _, a = make_user()
    _, b = make_user()
    c = idem_app.test_client()
    assert _post(c, a, "same", {}).json == {"charge": 1}
    assert _post(c, b, "same", {}).json == {"charge": 2}


def test_concurrent_duplicate_gets_409(idem_app, make_user):
    _, h = make_user()
    idem_app.calls["sleep"] = 0.5
    results = []

    def go():
        results.append(_post(idem_app.test_client(), h, "race", {"x": 1}).status_code)

    threads = [threading.Thread(target=go) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409, 409, 409, 409]
    assert idem_app.calls["n"] == 1


def test_a_run_whose_stale_claim_was_taken_over_cannot_complete(idem_app, make_user):
    """A slow first run outlives the stale time, a retry takes the key over: only one of them counts."""
    from sqlalchemy import text
    _, h = make_user()
    idem_app.calls["hold"] = threading.Event()
    first = []
    slow = threading.Thread(target=lambda: first.append(_post(idem_app.test_client(), h, "slow", {"x": 1})))
    slow.start()
    with idem_app.app_context():
        deadline = time.monotonic() + 10
        while idem_app.calls["n"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        db.session.execute(text("UPDATE sub_idempotency_keys SET locked_at = now() - interval '1 hour'"))
        db.session.commit()
    retry = _post(idem_app.test_client(), h, "slow", {"x": 1})
    idem_app.calls["hold"].set()
    slow.join(10)
    assert retry.status_code == 201 and retry.json == {"charge": 2}
    assert first[0].status_code == 409
    replay = _post(idem_app.test_client(), h, "slow", {"x": 1})
    assert replay.json == {"charge": 2} and replay.headers["Idempotent-Replayed"] == "true"


def test_failure_releases_the_key(idem_app, make_user):
    _, h = make_user()
    c = idem_app.test_client()
    idem_app.calls["fail"] = True
    assert _post(c, h, "k", {}).status_code == 402
    idem_app.calls["fail"] = False
    assert _post(c, h, "k", {}).status_code == 201
    assert idem_app.calls["n"] == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\x01key"])
def test_malformed_key_is_400(idem_app, make_user, key):
    _, h = make_user()
    r = idem_app.test_client().post("/__test/charge", json={}, headers={**h, "Idempotency-Key": key})
    assert r.status_code == 400 and idem_app.calls["n"] == 0


def test_without_key_runs_every_time(idem_app, make_user):
    _, h = make_user()
    c = idem_app.test_client()
    c.post("/__test/charge", json={}, headers=h)
    c.post("/__test/charge", json={}, headers=h)
    assert idem_app.calls["n"] == 2


def test_purge_keeps_recent_keys(idem_app, make_user):
    from sqlalchemy import text
    _, h = make_user()
    c = idem_app.test_client()
    _post(c, h, "old", {})
    _post(c, h, "new", {})
    with idem_app.app_context():
        db.session.execute(text("UPDATE sub_idempotency_keys SET created_at = now() - interval '25 hours' "
                                "WHERE key = 'old'"))
        db.session.commit()
        assert idempotency.purge_expired(SubscriptionIdempotencyKey) == 1
        assert [k for (k,) in db.session.execute(text("SELECT key FROM sub_idempotency_keys"))] == ["new"]


def test_stored_request_hash_is_keyed_not_a_bare_digest(idem_app, make_user):
    """A stored hash of a body holding card data must not be a plain SHA-256 of it."""
    import hashlib
    _, h = make_user()
    body = b'{"card": {"number": "4242424242424242", "cvc": "123"}}'
    idem_app.test_client().post("/__test/charge", data=body, content_type="application/json",
                                headers={**h, "Idempotency-Key": "hash-check"})
    with idem_app.app_context():
        stored = db.session.scalar(db.select(SubscriptionIdempotencyKey.request_hash))
    assert stored != hashlib.sha256(b"POST /__test/charge\n" + body).hexdigest()
    assert len(stored) == 64


ROUTES = [("subscription", "/v1/subscriptions", {"plan_id": 1}),
          ("subscription", "/v1/usage/features/widgets/use", {"delta": 1}),
          ("payment", "/v1/payments/process", {"amount_cents": 100, "currency": "USD"})]


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\x01key", "caf\u00e9"],
                         ids=["empty", "too-long", "control-char", "non-ascii"])
@pytest.mark.parametrize("service,path,body", ROUTES)
def test_a_malformed_key_gets_the_same_400_on_every_route(_apps, app, make_user, service, path, body, key):
    _, h = make_user()
    r = _apps[service].test_client().post(path, json=body, headers={**h, "Idempotency-Key": key})
    assert r.status_code == 400
    assert r.json["message"] == "Invalid Idempotency-Key header"
    assert r.json["errors"] == {"headers": {"Idempotency-Key": ["1 to 255 printable ASCII characters."]}}


@pytest.mark.parametrize("service,path,body", ROUTES)
def test_a_255_character_key_passes_the_check(_apps, app, make_user, service, path, body):
    _, h = make_user()
    r = _apps[service].test_client().post(path, json=body, headers={**h, "Idempotency-Key": "k" * 255})
    assert r.status_code != 400
