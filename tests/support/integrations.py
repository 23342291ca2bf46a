"""Integrator webhook test helpers: the `receiver` fixture (registered in tests/conftest.py), endpoint
registration through the admin API, and a signed-up customer."""
import pytest

from tests.support.webhook_receiver import Receiver

EP = "/v1/admin/webhook-endpoints"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def register(client, admin, receiver, **body):
    r = client.post(EP, json={"url": receiver.url, **body}, headers=admin)
    assert r.status_code == 201, r.json
    assert r.json["secret"].startswith("whsec_")
    receiver.secrets.append(r.json["secret"])
    return r.json


def sign_up(client, email):
    r = client.post("/v1/auth/register", json={"email": email, "password": "password123"})
    assert r.status_code == 201, r.json
    return {"Authorization": f"Bearer {r.json['access_token']}"}
