"""Redis and PostgreSQL outages under light load: 503 JSON fast, no 500, recovery without restart."""
import time

import pytest
import requests

from tests.reliability.stack import wait_until

pytestmark = pytest.mark.reliability


def _probe(stack, headers, path="/v1/auth/me"):
    started = time.monotonic()
    r = requests.get(stack.sub_url + path, headers=headers, timeout=15)
    return r, time.monotonic() - started


def test_redis_outage_is_503_json_and_recovers(stack):
    headers = stack.login()
    assert _probe(stack, headers)[0].status_code == 200
    stack.redis.stop()
    try:
        for _ in range(5):
            r, elapsed = _probe(stack, headers)
            assert r.status_code == 503, r.text
            assert r.json()["code"] == 503 and "Redis" in r.json()["message"]
            assert elapsed < 5
        detailed = requests.get(stack.sub_url + "/v1/health/detailed", timeout=15)
        assert detailed.status_code == 503 and detailed.json()["checks"]["redis"]["status"] == "unhealthy"
    finally:
        stack.redis.start()
    wait_until(lambda: _probe(stack, headers)[0].status_code == 200, 20, "recovery after Redis returns")
    assert requests.get(stack.sub_url + "/v1/health/detailed", timeout=5).status_code == 200


def test_postgres_outage_is_503_json_and_recovers(stack):
    headers = stack.login()
    stack.pg.stop("immediate")
    try:
        for path in ("/v1/auth/me", "/v1/plans"):
            r, elapsed = _probe(stack, headers, path)
            assert r.status_code == 503, r.text
            assert r.json()["code"] == 503 and "Database" in r.json()["message"]
            assert elapsed < 10
        login = requests.post(stack.sub_url + "/v1/auth/login",
                              json={"email": "admin@test.com", "password": "password123"}, timeout=15)
        assert login.status_code == 503
        pay = requests.get(stack.pay_url + "/v1/health/detailed", timeout=15)
        assert pay.status_code == 503 and pay.json()["checks"]["database"]["status"] == "unhealthy"
    finally:
        stack.pg.start()
    wait_until(lambda: _probe(stack, headers)[0].status_code == 200, 30, "recovery after PostgreSQL returns")
    assert requests.get(stack.pay_url + "/v1/health/detailed", timeout=5).status_code == 200
