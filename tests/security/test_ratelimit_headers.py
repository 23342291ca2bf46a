"""flask-limiter's header hooks run only for the blueprints that carry limits (core/ratelimit.py)."""
import pytest
from flask_limiter.util import get_qualified_name

from core import ratelimit
from core.ratelimit import limiter

pytestmark = pytest.mark.security


def test_every_limited_view_is_in_a_limited_blueprint(app):
    limited = {endpoint for endpoint, view in app.view_functions.items()
               if limiter.limit_manager._decorated_limits.get(get_qualified_name(view))}
    assert {"auth.login", "auth.register"} <= limited  # the check sees the decorated views
    assert {endpoint.split(".")[0] for endpoint in limited} <= set(ratelimit.LIMITED_BLUEPRINTS)


def test_a_limited_view_answers_with_rate_limit_headers_and_others_without(client, make_user):
    r = client.post("/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong-password-1"})
    assert r.status_code == 401
    assert int(r.headers["X-RateLimit-Limit"]) >= 1 and "X-RateLimit-Remaining" in r.headers
    _, headers = make_user()
    me = client.get("/v1/auth/me", headers=headers)  # same blueprint, no limit: nothing to report
    assert me.status_code == 200 and "X-RateLimit-Limit" not in me.headers
    plans = client.get("/v1/plans")
    assert plans.status_code == 200 and "X-RateLimit-Limit" not in plans.headers
