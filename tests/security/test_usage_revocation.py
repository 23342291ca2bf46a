"""POST /v1/usage/.../use checks token revocation inside its usage script (one Redis round trip).

Whatever path the check takes, a revoked token (logged out, rotated, or older than a password
change) is answered 401 and counts nothing; a body or feature error never hides the 401.
"""
from __future__ import annotations

import pytest
from flask_jwt_extended import decode_token

from core import tokens
from subscription_app import accounts
from subscription_app.usage import keys
from tests.conftest import make_settings
from tests.support.usage_support import new_subscriber, use

pytestmark = pytest.mark.subscription


@pytest.fixture
def subscriber(app, make_user):
    return new_subscriber(make_user)


def _counter(app, user, sub):
    raw = app.extensions["usage_store"].client.get(keys.counter(user.id, "widgets",
                                                                int(sub.current_period_start.timestamp())))
    return None if raw is None else int(raw)


def _payload(headers):
    return decode_token(headers["Authorization"].split()[1])


def _commands(redis_conn):
    return {name: stats["calls"] for name, stats in redis_conn.info("commandstats").items()}


def test_the_check_rides_in_the_usage_script(app, client, subscriber, redis_conn):
    _, headers, _ = subscriber
    assert app.extensions[tokens.REVOCATION_IN_VIEW] is True  # the test app's usage store is its Redis
    assert use(client, headers).status_code == 200  # caches the token version
    before = _commands(redis_conn)
    assert use(client, headers).status_code == 200
    after = _commands(redis_conn)
    assert after.get("cmdstat_mget", 0) == before.get("cmdstat_mget", 0)  # no separate revocation lookup
    assert after["cmdstat_evalsha"] == before["cmdstat_evalsha"] + 1
    assert after["cmdstat_exists"] == before.get("cmdstat_exists", 0) + 1  # the revoked-token key, in the script


def test_a_revoked_token_is_refused_and_counts_nothing(app, client, subscriber):
    user, headers, sub = subscriber
    assert use(client, headers, delta=2).json["used"] == 2
    tokens.revoke_token(_payload(headers))
    r = use(client, headers, delta=3)
    assert r.status_code == 401 and r.json["message"] == "Token has been revoked"
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert _counter(app, user, sub) == 2


def test_a_token_older_than_a_password_change_is_refused(app, client, subscriber):
    user, headers, sub = subscriber
    assert use(client, headers).status_code == 200
    accounts.change_password(user, "correct-horse-1", "another-horse-2")  # bumps the token version
    r = use(client, headers)
    assert r.status_code == 401 and _counter(app, user, sub) == 1


@pytest.mark.parametrize("version_changed", [False, True])
def test_a_token_version_missing_from_redis_is_read_from_postgresql(app, client, subscriber, redis_conn,
                                                                   version_changed):
    user, headers, sub = subscriber
    if version_changed:
        accounts.change_password(user, "correct-horse-1", "another-horse-2")
    redis_conn.delete(tokens.VERSION_KEY.format(user_id=user.id))  # evicted or flushed
    r = use(client, headers)
    assert r.status_code == (401 if version_changed else 200), r.json
    assert _counter(app, user, sub) == (None if version_changed else 1)
    assert redis_conn.get(tokens.VERSION_KEY.format(user_id=user.id)) is not None  # cached again


@pytest.mark.parametrize("path,body,status_if_valid", [
    ("/v1/usage/features/widgets/use", {"delta": 0}, 422),           # fails in body validation, before the script
    ("/v1/usage/features/widgets/use", {"delta": 1, "x": 1}, 422),
    ("/v1/usage/features/no_such_feature/use", {"delta": 1}, 404),  # fails after the script
])
def test_errors_never_hide_a_revoked_token(app, client, subscriber, path, body, status_if_valid):
    _, headers, _ = subscriber
    assert client.post(path, json=body, headers=headers).status_code == status_if_valid
    tokens.revoke_token(_payload(headers))
    r = client.post(path, json=body, headers=headers)
    assert r.status_code == 401 and r.json["message"] == "Token has been revoked"


def test_without_a_shared_redis_the_usual_check_runs(app, subscriber, redis_conn):
    """A separate usage Redis (here another db of the same server) cannot see the auth keys."""
    from core.extensions import db
    from subscription_app import create_app

    user, headers, sub = subscriber
    base, _, index = app.config["SETTINGS"].redis_url.rpartition("/")
    url = f"{base}/{(int(index) + 8) % 16}"  # a db no pytest-xdist worker uses (15, 13, 12... take 7, 5, 4...)
    other = create_app(make_settings(usage_redis_url=url))
    other.testing = True
    try:
        assert other.extensions[tokens.REVOCATION_IN_VIEW] is False
        client = other.test_client()
        assert use(client, headers).status_code == 200
        before = _commands(redis_conn)
        assert use(client, headers).status_code == 200
        assert _commands(redis_conn)["cmdstat_mget"] == before.get("cmdstat_mget", 0) + 1  # the usual lookup
        tokens.revoke_token(_payload(headers))
        r = use(client, headers)
        assert r.status_code == 401 and r.json["message"] == "Token has been revoked"
    finally:
        other.extensions["usage_store"].client.flushdb()
        with other.app_context():
            db.engine.dispose()
