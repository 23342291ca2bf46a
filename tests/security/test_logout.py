"""POST /v1/auth/logout: this session ends (its refresh family in PostgreSQL, its access token in Redis),
or, with all_sessions, every session of the user on both services (the token version)."""
from __future__ import annotations

import pytest

from tests.support.auth import PASSWORD, bearer, login

pytestmark = pytest.mark.subscription
WRONG_TOKEN_STATUS = 401  # a refresh token where an access token is required: "Invalid token"


def _login(client, email="out@b.co"):
    return login(client, email)


def test_logout_ends_this_session_only(app, client):
    this, other = _login(client), _login(client)
    r = client.post("/v1/auth/logout", json={"refresh_token": this["refresh_token"]},
                    headers=bearer(this["access_token"]))
    assert r.status_code == 204, r.json
    assert client.get("/v1/auth/me", headers=bearer(this["access_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", headers=bearer(this["refresh_token"])).status_code == 401
    # Another login of the same user (another device) goes on.
    assert client.get("/v1/auth/me", headers=bearer(other["access_token"])).status_code == 200
    assert client.post("/v1/auth/refresh", headers=bearer(other["refresh_token"])).status_code == 200


def test_logout_revokes_the_family_of_a_token_already_rotated(client):
    first = _login(client)
    second = client.post("/v1/auth/refresh", headers=bearer(first["refresh_token"])).json
    # The client logs out with the pair it holds now; the family's older token stays dead as well.
    r = client.post("/v1/auth/logout", json={"refresh_token": second["refresh_token"]},
                    headers=bearer(second["access_token"]))
    assert r.status_code == 204
    assert client.post("/v1/auth/refresh", headers=bearer(second["refresh_token"])).status_code == 401


def test_a_logged_out_refresh_token_stays_dead_after_a_redis_flush(client, redis_conn):
    pair = _login(client)
    client.post("/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=bearer(pair["access_token"]))
    redis_conn.flushdb()
    assert client.post("/v1/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401


def test_logout_of_all_sessions_ends_every_token_on_both_services(client, payment_client, redis_conn):
    this, other = _login(client), _login(client)
    r = client.post("/v1/auth/logout", json={"all_sessions": True}, headers=bearer(this["access_token"]))
    assert r.status_code == 204, r.json
    redis_conn.flushdb()  # the token version lives in PostgreSQL: a Redis loss brings nothing back
    for pair in (this, other):
        assert client.get("/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
        assert client.post("/v1/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
        assert payment_client.get("/v1/payments/transactions",
                                  headers=bearer(pair["access_token"])).status_code == 401
    again = client.post("/v1/auth/login", json={"email": "out@b.co", "password": PASSWORD})
    assert again.status_code == 200
    assert client.get("/v1/auth/me", headers=bearer(again.json["access_token"])).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"refresh_token": "not-a-jwt"}, "refresh_token"),
    ({"refresh_token": 42}, "refresh_token"),
    ({"all_sessions": "yes"}, "all_sessions"),
    ({"everything": True}, "everything"),
])
def test_bad_logout_bodies_are_422_naming_the_field_and_change_nothing(app, client, body, field):
    pair = _login(client)
    r = client.post("/v1/auth/logout", json=body, headers=bearer(pair["access_token"]))
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]
    assert client.get("/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200
    assert client.post("/v1/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 200


def test_an_access_token_in_place_of_the_refresh_token_is_refused(client):
    pair = _login(client)
    r = client.post("/v1/auth/logout", json={"refresh_token": pair["access_token"]},
                    headers=bearer(pair["access_token"]))
    assert r.status_code == 422 and "refresh_token" in r.json["errors"]["json"]
    assert client.get("/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200


def test_someone_elses_refresh_token_cannot_be_logged_out(client):
    mine, theirs = _login(client, "me@b.co"), _login(client, "them@b.co")
    r = client.post("/v1/auth/logout", json={"refresh_token": theirs["refresh_token"]},
                    headers=bearer(mine["access_token"]))
    assert r.status_code == 422 and "refresh_token" in r.json["errors"]["json"]
    assert client.post("/v1/auth/refresh", headers=bearer(theirs["refresh_token"])).status_code == 200
    assert client.get("/v1/auth/me", headers=bearer(mine["access_token"])).status_code == 200


def test_logout_needs_an_access_token(client):
    pair = _login(client)
    assert client.post("/v1/auth/logout", json={}).status_code == 401
    r = client.post("/v1/auth/logout", json={}, headers=bearer(pair["refresh_token"]))  # not an access token
    assert r.status_code == WRONG_TOKEN_STATUS, r.json


def test_logout_without_a_body_ends_the_access_token_and_is_idempotent(client):
    pair = _login(client)
    assert client.post("/v1/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    assert client.get("/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert client.post("/v1/auth/logout", headers=bearer(pair["access_token"])).status_code == 401
