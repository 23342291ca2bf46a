"""Login brute force: limited per account and per client IP, 429 with Retry-After."""
import pytest

pytestmark = pytest.mark.security


@pytest.fixture
def limited_app(settings):
    from subscription_app import create_app
    app = create_app(settings.with_overrides(login_rate_limit_per_account="3 per minute",
                                             login_rate_limit_per_ip="6 per minute"))
    return app


def _login(c, email, password="wrong-password", ip="10.0.0.1"):
    return c.post("/v1/auth/login", json={"email": email, "password": password},
                  environ_base={"REMOTE_ADDR": ip})


def test_per_account_limit_applies_across_ips(limited_app, make_user):
    make_user("victim@example.com", password="right-password")
    c = limited_app.test_client()
    codes = [_login(c, "victim@example.com", ip=f"10.0.0.{i}").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    blocked = _login(c, "victim@example.com", password="right-password", ip="10.0.0.99")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.json["code"] == 429 and blocked.json["message"]
    assert _login(c, "other@example.com", ip="10.0.0.98").status_code == 401


def test_per_ip_limit_applies_across_accounts(limited_app):
    c = limited_app.test_client()
    codes = [_login(c, f"user{i}@example.com", ip="10.9.9.9").status_code for i in range(7)]
    assert codes == [401] * 6 + [429]
    assert _login(c, "fresh@example.com", ip="10.9.9.10").status_code == 401


def test_unknown_email_and_wrong_password_count_alike(limited_app, make_user):
    make_user("known@example.com", password="right-password")
    c = limited_app.test_client()
    unknown = [_login(c, "ghost@example.com", ip=f"10.1.0.{i}").status_code for i in range(4)]
    known = [_login(c, "known@example.com", ip=f"10.2.0.{i}").status_code for i in range(4)]
    assert unknown == known == [401, 401, 401, 429]
