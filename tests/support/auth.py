"""Token helpers for the auth tests: a bearer header, and a registered user's login pair."""
from __future__ import annotations

PASSWORD = "password123"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def login(client, email: str) -> dict:
    """Register `email` (once; a second call finds it taken) and answer a fresh login's token pair."""
    client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    r = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.json
    return r.json
