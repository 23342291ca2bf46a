"""DNS-rebinding-proof deliveries (issue #18): the host is resolved once, checked, and the POST goes
to that very address, with the original name in the Host header and as the TLS name (SNI and the
certificate check). Only the outside world is faked: DNS answers, and where the network routes the
"public" address (to a stand-in receiver on 127.0.0.2); the receivers are real TLS servers."""
import socket
import ssl

import pytest
import trustme

from core.extensions import db
from subscription_app.integrations import guard
from subscription_app.integrations.models import WebhookDelivery
from tests.support.integrations import EP, sign_up
from tests.support.payment_fixtures import drain
from tests.support.webhook_receiver import Receiver

pytestmark = [pytest.mark.subscription]
NAME = "hooks.example"
PUBLIC = "93.184.216.34"
_real_getaddrinfo = socket.getaddrinfo


class FakeDns:
    """Answers NAME from a script (the last answer repeats), and routes PUBLIC to the stand-in on 127.0.0.2."""

    def __init__(self, *answers: str):
        self.answers, self.asked = list(answers), 0

    def __call__(self, host, port, *args, **kwargs):
        if host == NAME:
            self.asked += 1
            address = self.answers[min(self.asked, len(self.answers)) - 1]
        elif host == PUBLIC:
            address = "127.0.0.2"
        else:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        return _real_getaddrinfo(address, port, *args, **kwargs)


@pytest.fixture
def tls(tmp_path, monkeypatch):
    """A test CA that requests trusts (REQUESTS_CA_BUNDLE), and server contexts recording the SNI they see."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    seen: list[str | None] = []

    def context(name: str = NAME) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(ctx)
        ctx.sni_callback = lambda sock, server_name, _ctx: seen.append(server_name)
        return ctx

    context.seen = seen
    return context


@pytest.fixture
def pair(tls):
    """The attacker's target (127.0.0.1) and the stand-in for the public host (127.0.0.2), on one port."""
    internal = Receiver(ssl_context=tls())
    public = Receiver(port=internal.port, host="127.0.0.2", ssl_context=tls())
    yield internal, public
    internal.stop()
    public.stop()


@pytest.fixture
def admin(make_user):
    return make_user("ops@example.com", role="admin")[1]


def register(client, admin, url: str) -> str:
    r = client.post(EP, json={"url": url}, headers=admin)
    assert r.status_code == 201, r.json
    return r.json["secret"]


def deliver_in_production(app, client, redis_conn, email: str) -> None:
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.with_overrides(app_env="production")
    try:
        sign_up(client, email)
        drain(redis_conn)
    finally:
        app.config["SETTINGS"] = settings


def test_a_rebinding_answer_is_never_used(app, client, admin, pair, tls, redis_conn, monkeypatch):
    internal, public = pair
    dns = FakeDns(PUBLIC, "127.0.0.1")  # public when checked, loopback on any second look
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    public.secrets.append(register(client, admin, f"https://{NAME}:{public.port}/hooks"))
    deliver_in_production(app, client, redis_conn, "rebind@example.com")
    assert internal.received == []
    [got] = public.verified("customer.created")
    assert got["headers"]["host"] == f"{NAME}:{public.port}"
    assert tls.seen == [NAME]  # SNI carried the name, and the certificate was checked against it
    assert dns.asked == 1
    with app.app_context():
        [d] = db.session.query(WebhookDelivery).all()
        assert d.status == "succeeded" and d.last_status_code == 200


def test_a_private_answer_at_check_time_is_refused_without_connecting(app, client, admin, pair, redis_conn,
                                                                      monkeypatch):
    internal, public = pair
    dns = FakeDns("127.0.0.1", PUBLIC)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    register(client, admin, f"https://{NAME}:{public.port}/hooks")
    deliver_in_production(app, client, redis_conn, "private@example.com")
    assert internal.received == [] and public.received == []
    with app.app_context():
        [d] = db.session.query(WebhookDelivery).all()
        assert d.status == "pending" and d.last_error == f"refused: host {NAME!r} resolves to non-public address " \
                                                         "127.0.0.1"


def test_the_certificate_is_still_checked_against_the_name(app, client, admin, tls, redis_conn, monkeypatch):
    impostor = Receiver(ssl_context=tls("other.example"))
    try:
        monkeypatch.setattr(socket, "getaddrinfo", FakeDns("127.0.0.1"))
        register(client, admin, f"https://{NAME}:{impostor.port}/hooks")
        sign_up(client, "impostor@example.com")  # test settings: loopback allowed, still pinned and verified
        drain(redis_conn)
    finally:
        impostor.stop()
    assert impostor.received == []
    with app.app_context():
        [d] = db.session.query(WebhookDelivery).all()
        assert d.attempts == 1 and "SSLError" in d.last_error and "other.example" not in (d.last_response_snippet or "")


def test_an_unresolvable_host_is_a_failed_attempt_retried(app, client, admin, redis_conn):
    register(client, admin, "http://no-such-host.invalid/hooks")
    sign_up(client, "nxdomain@example.com")
    drain(redis_conn)
    with app.app_context():
        [d] = db.session.query(WebhookDelivery).all()
        assert d.status == "pending" and d.attempts == 1
        assert d.last_error.startswith("Unresolved: host 'no-such-host.invalid' does not resolve")


@pytest.mark.parametrize("address", ["100.64.0.1", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "fd00::1",
                                     "0.0.0.0", "224.0.0.1"])
def test_production_refuses_every_non_public_address(monkeypatch, address):
    monkeypatch.setattr(socket, "getaddrinfo", FakeDns(address))
    with pytest.raises(guard.UnsafeTarget, match="non-public"):
        guard.pin(f"https://{NAME}/hooks", production=True)


def test_pin_keeps_path_query_port_and_credentials(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", FakeDns(PUBLIC))
    pinned = guard.pin(f"https://u:p@{NAME}:8443/in/hooks?team=7", production=True)
    assert (pinned.url, pinned.host, pinned.address) == (f"https://u:p@{PUBLIC}:8443/in/hooks?team=7",
                                                         f"{NAME}:8443", PUBLIC)
    assert guard.pin(f"https://{NAME}", production=True).url == f"https://{PUBLIC}/"
    with pytest.raises(guard.UnsafeTarget, match="https"):
        guard.pin(f"http://{NAME}/", production=True)
