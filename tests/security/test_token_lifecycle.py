"""Issue #13 items 4-6: refresh rotation is one atomic step, revocation cannot be undone.

Races run with real threads against the real PostgreSQL and Redis; a Redis flush stands in
for a Redis data loss.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from core import tokens
from core.extensions import db
from subscription_app import accounts
from tests.support.auth import PASSWORD, bearer, login

pytestmark = pytest.mark.subscription
NEW_PASSWORD = "new-password-456"


def _login(client, email="r@b.co"):
    return login(client, email)


def _refresh(client, pair):
    return client.post("/v1/auth/refresh", headers=bearer(pair["refresh_token"]))


def _in_parallel(n, fn):
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_parallel_refreshes_of_one_token_have_exactly_one_winner(app, client):
    pair = _login(client)
    responses = _in_parallel(10, lambda: app.test_client().post("/v1/auth/refresh",
                                                                headers=bearer(pair["refresh_token"])))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [401] * 9, codes
    winner = next(r for r in responses if r.status_code == 200).json
    # The nine losers presented a rotated token: reuse, so the whole family (the winner too) is revoked.
    assert _refresh(client, winner).status_code == 401


def test_reusing_a_rotated_token_revokes_the_whole_family(client):
    pair = _login(client)
    rotated = _refresh(client, pair)
    assert rotated.status_code == 200
    reused = _refresh(client, pair)
    assert reused.status_code == 401 and reused.json["message"] == "Token has been revoked"
    assert _refresh(client, rotated.json).status_code == 401
    other_login = _login(client)  # another family (a new login) is untouched
    assert _refresh(client, other_login).status_code == 200


def test_a_rotated_token_stays_dead_after_a_redis_flush(client, redis_conn):
    pair = _login(client)
    assert _refresh(client, pair).status_code == 200
    redis_conn.flushdb()
    assert _refresh(client, pair).status_code == 401


def test_a_refresh_token_never_recorded_is_refused(app, client, make_user):
    user, _ = make_user()
    unrecorded = tokens.issue_tokens(user)  # signed with the key, but no refresh_tokens row
    assert _refresh(client, unrecorded).status_code == 401


def test_refresh_checks_the_version_in_postgresql_not_only_the_cache(app, client):
    """A password change committed but not yet in the Redis cache: the old refresh token gets nothing."""
    pair = _login(client)
    assert client.get("/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200  # caches version 0
    db.session.execute(text("UPDATE users SET token_version = token_version + 1 WHERE email = 'r@b.co'"))
    db.session.commit()
    r = _refresh(client, pair)
    assert r.status_code == 401, r.json


def test_the_version_cache_only_rises_and_expires(app, redis_conn):
    key = tokens.VERSION_KEY.format(user_id=42)
    assert tokens.cache_token_version(42, 3) == 3
    assert tokens.cache_token_version(42, 1) == 3  # a stale reader cannot lower it
    assert int(redis_conn.get(key)) == 3
    assert 0 < redis_conn.ttl(key) <= app.config["SETTINGS"].token_version_cache_seconds
    assert tokens.cache_token_version(42, 4) == 4


def test_a_reader_racing_a_password_change_cannot_restore_the_old_version(app, client, payment_client,
                                                                           redis_conn):
    """The reader reads version 0 from PostgreSQL, the change commits and caches 1, then the reader caches."""
    pair = _login(client)
    user = accounts.find_by_email("r@b.co")
    redis_conn.delete(tokens.VERSION_KEY.format(user_id=user.id))
    real_lookup = app.extensions["token_version_lookup"]
    read_done, change_done = threading.Event(), threading.Event()

    def slow_lookup(user_id):
        version = real_lookup(user_id)
        read_done.set()
        change_done.wait(10)
        return version

    app.extensions["token_version_lookup"] = slow_lookup
    try:
        reader = threading.Thread(target=lambda: app.test_client().get("/v1/auth/me",
                                                                      headers=bearer(pair["access_token"])))
        reader.start()
        assert read_done.wait(10)
        app.extensions["token_version_lookup"] = real_lookup
        changed = client.post("/v1/auth/change-password", headers=bearer(pair["access_token"]),
                              json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert changed.status_code == 200, changed.json
        change_done.set()
        reader.join(10)
    finally:
        app.extensions["token_version_lookup"] = real_lookup
    assert int(redis_conn.get(tokens.VERSION_KEY.format(user_id=user.id))) == 1
    assert client.get("/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert payment_client.get("/v1/payments/transactions", headers=bearer(pair["access_token"])).status_code == 401


def test_a_password_change_survives_a_redis_flush_on_both_services(client, payment_client, redis_conn):
    old = _login(client)
    r = client.post("/v1/auth/change-password", headers=bearer(old["access_token"]),
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 200
    redis_conn.flushdb()
    assert payment_client.get("/v1/payments/transactions", headers=bearer(old["access_token"])).status_code == 401
    assert client.get("/v1/auth/me", headers=bearer(old["access_token"])).status_code == 401
    assert _refresh(client, old).status_code == 401
    new = payment_client.get("/v1/payments/transactions", headers=bearer(r.json["access_token"]))
    assert new.status_code == 200, new.json


def test_the_payment_check_fails_closed_when_the_subscription_service_is_down(client, payment_app, make_user):
    _, headers = make_user()  # its version is not cached yet
    settings = payment_app.config["SETTINGS"]
    payment_app.config["SETTINGS"] = settings.with_overrides(subscription_service_url="http://127.0.0.1:9")
    try:
        r = payment_app.test_client().get("/v1/payments/transactions", headers=headers)
    finally:
        payment_app.config["SETTINGS"] = settings
    assert r.status_code == 503 and r.headers["Retry-After"] and r.json["code"] == 503
    assert payment_app.test_client().get("/v1/payments/transactions", headers=headers).status_code == 200
