"""POST /v1/usage/.../use checks token revocation the way every route does (flask-jwt-extended's
blocklist loader, core/tokens.py): a revoked token (logged out, rotated, or older than a password
change) is answered 401 and counts nothing, and a body or feature error never hides the 401.

Round trips are counted on the app's own clients (tests/support/redis_commands.py), never with
server-wide statistics, so other users of the Redis server cannot change the count.
"""
from __future__ import annotations

import pytest
from flask_jwt_extended import decode_token

from core import tokens
from subscription_app import accounts
from subscription_app.usage import keys
from tests.support.redis_commands import CommandLog, logged_usage_store
from tests.support.usage_support import new_subscriber, use

pytestmark = pytest.mark.subscription


@pytest.fixture
def subscriber(app, make_user):
    return new_subscriber(make_user)


@pytest.fixture
def sent(app, monkeypatch):
    """Every command the app sends to its auth Redis and to its usage store, in order, from now on."""
    settings = app.config["SETTINGS"]
    auth = CommandLog.from_url(settings.redis_url)
    usage = CommandLog.from_url(settings.usage_redis, decode_responses=True)
    monkeypatch.setitem(app.extensions, "redis", auth)
    monkeypatch.setitem(app.extensions, "usage_store", logged_usage_store(app.extensions["usage_store"], usage))
    yield {"auth": auth.sent, "usage": usage.sent}
    auth.close()
    usage.close()


def _counter(app, user, sub):
    raw = app.extensions["usage_store"].client.get(keys.counter(user.id, "widgets",
                                                                int(sub.current_period_start.timestamp())))
    return None if raw is None else int(raw)


def _payload(headers):
    return decode_token(headers["Authorization"].split()[1])


def test_use_checks_revocation_in_one_round_trip_then_runs_its_script(app, client, subscriber, sent):
    _, headers, _ = subscriber
    assert use(client, headers).status_code == 200  # caches the entitlement, the counter and the token version
    sent["auth"].clear()
    sent["usage"].clear()
    for n in (2, 3):
        assert use(client, headers).json["used"] == n
    assert sent["auth"] == ["MGET", "MGET"]  # revoked token id and token version, one round trip a request
    assert sent["usage"] == ["EVALSHA", "EVALSHA"]


def test_the_count_is_this_apps_alone(app, client, subscriber, sent, redis_conn):
    """Commands sent by anyone else to the same server and database are not counted."""
    _, headers, _ = subscriber
    assert use(client, headers).status_code == 200
    sent["auth"].clear()
    sent["usage"].clear()
    for _ in range(5):
        redis_conn.mget("someone-else", "another-key")
    assert use(client, headers).status_code == 200
    assert sent == {"auth": ["MGET"], "usage": ["EVALSHA"]}


def test_a_revoked_token_is_refused_before_the_usage_store_is_asked(app, client, subscriber, sent):
    user, headers, sub = subscriber
    assert use(client, headers, delta=2).json["used"] == 2
    tokens.revoke_token(_payload(headers))
    sent["usage"].clear()
    r = use(client, headers, delta=3)
    assert r.status_code == 401 and r.json["message"] == "Token has been revoked"
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert sent["usage"] == []
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
    ("/v1/usage/features/widgets/use", {"delta": 0}, 422),           # fails in body validation
    ("/v1/usage/features/widgets/use", {"delta": 1, "x": 1}, 422),
    ("/v1/usage/features/no_such_feature/use", {"delta": 1}, 404),  # fails in the usage script
])
def test_errors_never_hide_a_revoked_token(app, client, subscriber, path, body, status_if_valid):
    _, headers, _ = subscriber
    assert client.post(path, json=body, headers=headers).status_code == status_if_valid
    tokens.revoke_token(_payload(headers))
    r = client.post(path, json=body, headers=headers)
    assert r.status_code == 401 and r.json["message"] == "Token has been revoked"
