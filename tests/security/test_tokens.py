"""Hostile tokens: alg none, wrong key, wrong audience, expired; both services."""
import base64
import json
import time

import jwt as pyjwt
import pytest

pytestmark = [pytest.mark.security, pytest.mark.subscription]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user_id, **extra):
    now = int(time.time())
    return {"sub": str(user_id), "type": "access", "jti": f"j{now}", "iat": now, "nbf": now, "exp": now + 600,
            "aud": "billing-api", "fresh": False, "tv": 0, "role": "user", **extra}


def _me(client, token):
    return client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_alg_none_is_refused(client, make_user):
    user, _ = make_user()
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user.id))}."
    assert _me(client, token).status_code == 401


def test_wrong_signature_is_refused(client, make_user):
    user, _ = make_user()
    token = pyjwt.encode(_claims(user.id), "another-secret-another-secret-another", algorithm="HS256")
    assert _me(client, token).status_code == 401


def test_wrong_audience_is_refused(client, make_user, settings):
    user, _ = make_user()
    token = pyjwt.encode(_claims(user.id, aud="someone-else"), settings.jwt_secret_key, algorithm="HS256")
    assert _me(client, token).status_code == 401


def test_expired_token_is_refused(client, make_user, settings):
    user, _ = make_user()
    token = pyjwt.encode(_claims(user.id, exp=int(time.time()) - 5), settings.jwt_secret_key, algorithm="HS256")
    r = _me(client, token)
    assert r.status_code == 401 and "expired" in r.json["message"]


def test_token_signed_with_service_secret_is_refused(client, make_user, settings):
    user, _ = make_user()
    token = pyjwt.encode(_claims(user.id), settings.service_to_service_secret, algorithm="HS256")
    assert _me(client, token).status_code == 401


def test_well_formed_token_is_accepted(client, make_user, settings):
    user, _ = make_user()
    token = pyjwt.encode(_claims(user.id), settings.jwt_secret_key, algorithm="HS256")
    assert _me(client, token).status_code == 200


def test_internal_endpoint_needs_the_service_secret(client, make_user, service_headers):
    user, headers = make_user()
    url = f"/v1/subscriptions/internal/user/{user.id}"
    assert client.get(url).status_code == 403
    assert client.get(url, headers=headers).status_code == 403
    assert client.get(url, headers={"X-Service-Token": "wrong"}).status_code == 403
    r = client.get(url, headers=service_headers)
    assert r.status_code == 200
    assert r.json["user_id"] == user.id and r.json["subscription"] is None
    assert client.get("/v1/subscriptions/internal/user/999999", headers=service_headers).status_code == 404


def test_service_secret_is_not_a_user_token(client, settings):
    r = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {settings.service_to_service_secret}"})
    assert r.status_code == 401
