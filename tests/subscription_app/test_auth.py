"""Auth endpoints of the subscription service, through the HTTP API."""
import pytest

pytestmark = pytest.mark.subscription


def _login(client, email, password):
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_register_full_body_returns_tokens_and_user(client):
    r = client.post("/v1/auth/register", json={"email": "Test@Example.com", "password": "password123",
                                                "first_name": "Test", "last_name": "User"})
    assert r.status_code == 201, r.json
    assert r.json["user"]["email"] == "test@example.com"
    assert r.json["user"]["role"] == "user"
    assert r.json["token_type"] == "bearer" and r.json["expires_in"] == 3600
    assert "password" not in r.json["user"] and "password_hash" not in r.json["user"]
    me = client.get("/v1/auth/me", headers=bearer(r.json["access_token"]))
    assert me.status_code == 200 and me.json["first_name"] == "Test"


def test_register_minimal_body(client):
    r = client.post("/v1/auth/register", json={"email": "dev@test.com", "password": "test1234"})
    assert r.status_code == 201
    assert r.json["user"]["first_name"] is None


def test_register_duplicate_email_is_409_case_insensitive(client):
    assert client.post("/v1/auth/register", json={"email": "a@b.co", "password": "password123"}).status_code == 201
    r = client.post("/v1/auth/register", json={"email": "A@B.co", "password": "password123"})
    assert r.status_code == 409
    assert r.json["code"] == 409 and "exists" in r.json["message"]


@pytest.mark.parametrize("body,field", [
    ({"email": "not-an-email", "password": "password123"}, "email"),
    ({"email": "a@b.co", "password": "short"}, "password"),
    ({"email": "a@b.co", "password": "é" * 40}, "password"),  # 80 bytes > bcrypt's 72
    ({"email": "a@b.co"}, "password"),
    ({"email": "a@b.co", "password": 12345678}, "password"),
    ({"email": "a@b.co", "password": "password123", "role": "admin"}, "role"),
])
def test_register_rejects_bad_input_with_field_errors(client, body, field):
    r = client.post("/v1/auth/register", json=body)
    assert r.status_code == 422
    assert field in r.json["errors"]["json"]


def test_register_cannot_become_admin(client):
    r = client.post("/v1/auth/register", json={"email": "a@b.co", "password": "password123", "role": "admin"})
    assert r.status_code == 422
    assert _login(client, "a@b.co", "password123").status_code == 401


def test_login_seeded_admin(client, seeded):
    r = _login(client, "admin@test.com", "password123")
    assert r.status_code == 200
    assert set(r.json) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert client.get("/v1/auth/me", headers=bearer(r.json["access_token"])).json["role"] == "admin"


def test_login_failures_look_the_same(client, seeded):
    wrong_password = _login(client, "admin@test.com", "nope-nope")
    unknown = _login(client, "ghost@test.com", "nope-nope")
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json["message"] == unknown.json["message"]


def test_me_requires_a_valid_token(client):
    assert client.get("/v1/auth/me").status_code == 401
    assert client.get("/v1/auth/me", headers=bearer("garbage")).status_code == 401
    assert client.get("/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_refresh_rotates_and_revokes_the_old_token(client, make_user):
    client.post("/v1/auth/register", json={"email": "r@b.co", "password": "password123"})
    pair = _login(client, "r@b.co", "password123").json
    r = client.post("/v1/auth/refresh", headers=bearer(pair["refresh_token"]))
    assert r.status_code == 200
    assert r.json["refresh_token"] != pair["refresh_token"]
    newer = client.post("/v1/auth/refresh", headers=bearer(r.json["refresh_token"]))
    assert newer.status_code == 200
    again = client.post("/v1/auth/refresh", headers=bearer(pair["refresh_token"]))
    assert again.status_code == 401 and "revoked" in again.json["message"]
    # reuse of a rotated token revokes its whole family (tests/security/test_token_lifecycle.py)
    assert client.post("/v1/auth/refresh", headers=bearer(newer.json["refresh_token"])).status_code == 401


def test_access_and_refresh_tokens_are_not_interchangeable(client):
    client.post("/v1/auth/register", json={"email": "x@b.co", "password": "password123"})
    pair = _login(client, "x@b.co", "password123").json
    assert client.post("/v1/auth/refresh", headers=bearer(pair["access_token"])).status_code == 401
    assert client.get("/v1/auth/me", headers=bearer(pair["refresh_token"])).status_code == 401


def test_change_password_revokes_earlier_tokens(client):
    client.post("/v1/auth/register", json={"email": "c@b.co", "password": "password123"})
    old = _login(client, "c@b.co", "password123").json
    r = client.post("/v1/auth/change-password", headers=bearer(old["access_token"]),
                    json={"current_password": "password123", "new_password": "new-password-456"})
    assert r.status_code == 200, r.json
    assert client.get("/v1/auth/me", headers=bearer(old["access_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", headers=bearer(old["refresh_token"])).status_code == 401
    assert client.get("/v1/auth/me", headers=bearer(r.json["access_token"])).status_code == 200
    assert _login(client, "c@b.co", "password123").status_code == 401
    assert _login(client, "c@b.co", "new-password-456").status_code == 200


def test_change_password_survives_a_redis_flush(client, redis_conn):
    """The token version is rebuilt from PostgreSQL when Redis lost it."""
    client.post("/v1/auth/register", json={"email": "f@b.co", "password": "password123"})
    old = _login(client, "f@b.co", "password123").json
    client.post("/v1/auth/change-password", headers=bearer(old["access_token"]),
                json={"current_password": "password123", "new_password": "new-password-456"})
    redis_conn.flushdb()
    assert client.get("/v1/auth/me", headers=bearer(old["access_token"])).status_code == 401


def test_change_password_wrong_current_password(client):
    client.post("/v1/auth/register", json={"email": "w@b.co", "password": "password123"})
    tok = _login(client, "w@b.co", "password123").json["access_token"]
    r = client.post("/v1/auth/change-password", headers=bearer(tok),
                    json={"current_password": "wrong-one", "new_password": "new-password-456"})
    assert r.status_code == 400
    assert _login(client, "w@b.co", "password123").status_code == 200


def test_change_password_needs_auth_before_body(client):
    r = client.post("/v1/auth/change-password", json={})
    assert r.status_code == 401
