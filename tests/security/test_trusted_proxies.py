"""TRUSTED_PROXIES: behind a load balancer the per-IP login limit keys on the real client."""
import pytest

pytestmark = pytest.mark.security

PROXY_IP = "10.0.0.1"
# Each test takes the `app` fixture for its cleanup: Redis (the limiter's counters) is emptied after it.


def _app(settings, trusted_proxies):
    from subscription_app import create_app
    return create_app(settings.with_overrides(login_rate_limit_per_account="100 per minute",
                                              login_rate_limit_per_ip="3 per minute",
                                              trusted_proxies=trusted_proxies))


def _login(c, email, forwarded_for):
    return c.post("/v1/auth/login", json={"email": email, "password": "wrong-password"},
                  environ_base={"REMOTE_ADDR": PROXY_IP}, headers={"X-Forwarded-For": forwarded_for})


def test_one_trusted_proxy_limits_each_forwarded_client(app, settings):
    c = _app(settings, 1).test_client()
    codes = [_login(c, f"u{i}@example.com", "203.0.113.7").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    # Another client behind the same proxy has its own bucket.
    assert _login(c, "other@example.com", "198.51.100.2").status_code == 401


def test_only_the_proxys_own_entry_is_trusted(app, settings):
    c = _app(settings, 1).test_client()
    # A client's own X-Forwarded-For entry comes first; the proxy appends the address it saw.
    codes = [_login(c, f"s{i}@example.com", f"1.2.3.{i}, 203.0.113.9").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]


def test_without_trusted_proxies_the_header_is_ignored(app, settings):
    c = _app(settings, 0).test_client()
    # A client rotating a spoofed X-Forwarded-For still shares its socket address's bucket.
    codes = [_login(c, f"x{i}@example.com", f"203.0.113.{i}").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
