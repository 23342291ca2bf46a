"""TRUSTED_PROXIES: behind a load balancer the per-IP login limit keys on the real client."""
import pytest

pytestmark = pytest.mark.security

PROXY_IP = "10.0.0.1"


@pytest.fixture
def make_app(app, settings):
    """Apps with their own TRUSTED_PROXIES, pools closed after the test (`app` then empties Redis)."""
    from core.extensions import db
    from subscription_app import create_app
    made = []

    def _make(trusted_proxies):
        made.append(create_app(settings.with_overrides(login_rate_limit_per_account="100 per minute",
                                                       login_rate_limit_per_ip="3 per minute",
                                                       trusted_proxies=trusted_proxies)))
        return made[-1]

    yield _make
    for built in made:
        with built.app_context():
            db.engine.dispose()


def _login(c, email, forwarded_for):
    return c.post("/v1/auth/login", json={"email": email, "password": "wrong-password"},
                  environ_base={"REMOTE_ADDR": PROXY_IP}, headers={"X-Forwarded-For": forwarded_for})


def test_one_trusted_proxy_limits_each_forwarded_client(make_app):
    c = make_app(1).test_client()
    codes = [_login(c, f"u{i}@example.com", "203.0.113.7").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    # Another client behind the same proxy has its own bucket.
    assert _login(c, "other@example.com", "198.51.100.2").status_code == 401


def test_only_the_proxys_own_entry_is_trusted(make_app):
    c = make_app(1).test_client()
    # A client's own X-Forwarded-For entry comes first; the proxy appends the address it saw.
    codes = [_login(c, f"s{i}@example.com", f"1.2.3.{i}, 203.0.113.9").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]


def test_without_trusted_proxies_the_header_is_ignored(make_app):
    c = make_app(0).test_client()
    # A client rotating a spoofed X-Forwarded-For still shares its socket address's bucket.
    codes = [_login(c, f"x{i}@example.com", f"203.0.113.{i}").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
