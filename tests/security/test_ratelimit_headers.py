"""flask-limiter's headers: a limited view answers with X-RateLimit-*, a view without a limit without them."""
import pytest

pytestmark = pytest.mark.security


def test_a_limited_view_answers_with_rate_limit_headers_and_others_without(client, make_user):
    r = client.post("/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong-password-1"})
    assert r.status_code == 401
    assert int(r.headers["X-RateLimit-Limit"]) >= 1 and "X-RateLimit-Remaining" in r.headers
    _, headers = make_user()
    me = client.get("/v1/auth/me", headers=headers)  # same blueprint, no limit: nothing to report
    assert me.status_code == 200 and "X-RateLimit-Limit" not in me.headers
    plans = client.get("/v1/plans")
    assert plans.status_code == 200 and "X-RateLimit-Limit" not in plans.headers
