"""Integrator webhooks end to end: endpoints registered through the admin API, events emitted by
the real domain flows, delivered by the real RQ worker class to a receiver that verifies with the
reference `standardwebhooks` package. Only the clock and the receiver's behaviour are controlled."""
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from rq import Queue

from core.extensions import db
from core.queues import QUEUE_NAMES
from subscription_app.integrations import delivery as delivery_mod
from subscription_app.integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from subscription_app.seed import PRO_MONTHLY_ID
from tests.support.payment_fixtures import drain
from tests.support.integrations import EP, register, sign_up
from tests.support.webhook_receiver import Receiver

pytestmark = [pytest.mark.subscription]
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
@pytest.fixture
def admin(make_user):
    return make_user("ops@example.com", role="admin")[1]


@pytest.mark.calendar
@pytest.mark.payment
def test_a_subscription_arrives_verified_as_created_then_paid(client, admin, receiver, seeded, redis_conn,
                                                              monkeypatch):
    from payment_app import gateway
    monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0)
    register(client, admin, receiver, event_types=["subscription.created", "invoice.paid", "customer.created"])
    headers = sign_up(client, "ada@example.com")
    sub = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": CARD}, headers=headers).json
    drain(redis_conn)
    [created] = receiver.verified("subscription.created")
    assert created["event"]["data"]["object"]["id"] == sub["id"]
    assert created["event"]["api_version"] == "2026-12-01"
    [paid] = receiver.verified("invoice.paid")
    assert paid["event"]["data"]["object"]["amount_paid_cents"] == 2900
    assert {r["event"]["type"] for r in receiver.received} == {"subscription.created", "invoice.paid",
                                                               "customer.created"}  # the filter holds
    assert all(r["verified_by"] for r in receiver.received)


@pytest.mark.calendar
@pytest.mark.payment
def test_pause_and_resume_reach_the_integrator(client, admin, receiver, seeded, redis_conn, monkeypatch):
    from payment_app import gateway
    monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0)
    register(client, admin, receiver, event_types=["subscription.paused", "subscription.resumed"])
    headers = sign_up(client, "pia@example.com")
    sub = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": CARD}, headers=headers).json
    drain(redis_conn)
    assert client.post(f"/v1/subscriptions/{sub['id']}/pause", json={}, headers=headers).status_code == 200
    assert client.post(f"/v1/subscriptions/{sub['id']}/resume", json={}, headers=headers).status_code == 200
    drain(redis_conn)
    [paused] = receiver.verified("subscription.paused")
    [resumed] = receiver.verified("subscription.resumed")
    assert paused["event"]["data"]["object"]["status"] == "paused"
    assert resumed["event"]["data"]["object"]["status"] == "active"


def test_a_receiver_down_then_up_gets_every_event_once(app, client, admin, receiver, redis_conn):
    register(client, admin, receiver)
    receiver.stop()
    for n in range(3):
        sign_up(client, f"c{n}@example.com")
    drain(redis_conn)  # first attempts: connection refused, retries scheduled in about 5 s
    assert receiver.received == []
    receiver.start()
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(seconds=30), tick=True):
        drain(redis_conn)
    ids = [r["id"] for r in receiver.verified("customer.created")]
    assert len(ids) == len(set(ids)) == 3
    with app.app_context():
        rows = db.session.query(WebhookDelivery).all()
        assert {d.id for d in rows} == set(ids) and {(d.status, d.attempts) for d in rows} == {("succeeded", 2)}
        assert db.session.query(WebhookAttempt).filter(WebhookAttempt.error.like("ConnectionError%")).count() == 3
    [endpoint] = client.get(EP, headers=admin).json["items"]
    log = client.get(f"{EP}/{endpoint['id']}/deliveries", headers=admin).json["items"]
    assert {(d["status"], d["last_status_code"]) for d in log} == {("succeeded", 200)}
    assert all(d["last_latency_ms"] >= 0 and d["last_response_snippet"] == "ok" for d in log)


def test_a_lost_job_is_found_by_the_sweep(app, client, admin, receiver, redis_conn):
    """A worker killed mid-delivery commits nothing and its job is gone: the pending row is the truth."""
    register(client, admin, receiver)
    sign_up(client, "lost@example.com")
    for name in QUEUE_NAMES:
        Queue(name, connection=redis_conn).empty()
    drain(redis_conn)
    assert receiver.received == []
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(seconds=15), tick=True):
        with app.app_context():
            assert delivery_mod.sweep() == 1
        drain(redis_conn)
    assert len(receiver.verified("customer.created")) == 1


def test_410_disables_the_endpoint_and_replay_since_resends(app, client, admin, receiver, redis_conn):
    endpoint = register(client, admin, receiver)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    receiver.status = 410
    sign_up(client, "gone@example.com")
    drain(redis_conn)
    shown = client.get(f"{EP}/{endpoint['id']}", headers=admin).json
    assert shown["enabled"] is False and "410" in shown["disabled_reason"]
    assert client.post(f"{EP}/{endpoint['id']}/replay", json={"since": before.isoformat()},
                       headers=admin).status_code == 409
    receiver.status = 200
    assert client.patch(f"{EP}/{endpoint['id']}", json={"enabled": True}, headers=admin).json["enabled"] is True
    r = client.post(f"{EP}/{endpoint['id']}/replay", json={"since": before.isoformat()}, headers=admin)
    assert r.status_code == 202 and r.json == {"replayed": 1}
    drain(redis_conn)
    assert [x["id"] for x in receiver.received][0] == receiver.verified()[-1]["id"]  # same webhook-id resent
    assert len(receiver.received) == 2


def test_replay_one_event_and_poll_events_with_a_cursor(app, client, admin, receiver, redis_conn):
    endpoint = register(client, admin, receiver)
    for n in range(3):
        sign_up(client, f"p{n}@example.com")
    drain(redis_conn)
    page = client.get("/v1/admin/events?limit=2&type=customer.created", headers=admin).json
    assert len(page["items"]) == 2 and page["has_more"] is True
    rest = client.get(f"/v1/admin/events?limit=2&starting_after={page['items'][-1]['id']}", headers=admin).json
    assert rest["has_more"] is False
    events = page["items"] + rest["items"]
    assert len({e["id"] for e in events}) == 4 and events[-1]["type"] == "customer.created"  # + the admin's
    for event in events[:2]:  # the admin's, from before the endpoint existed, and one delivered already
        r = client.post(f"/v1/admin/events/{event['id']}/replay", json={"endpoint_id": endpoint["id"]},
                        headers=admin)
        assert r.status_code == 202, r.json
    drain(redis_conn)
    sent = [x["event"]["id"] for x in receiver.verified()]
    assert (sent.count(events[0]["id"]), sent.count(events[1]["id"])) == (1, 2)


def test_rotation_signs_with_both_secrets_during_the_overlap(app, client, admin, receiver, redis_conn):
    endpoint = register(client, admin, receiver)
    old = receiver.secrets[0]
    rotated = client.post(f"{EP}/{endpoint['id']}/rotate-secret", json={"overlap_seconds": 3600}, headers=admin).json
    new = rotated["secret"]
    receiver.secrets.append(new)
    assert new != old and "secret" not in client.get(f"{EP}/{endpoint['id']}", headers=admin).json
    sign_up(client, "rot1@example.com")
    drain(redis_conn)
    assert receiver.received[-1]["verified_by"] == [old, new]
    assert len(receiver.received[-1]["headers"]["webhook-signature"].split(" ")) == 2
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=2), tick=True):
        sign_up(client, "rot2@example.com")
        drain(redis_conn)
    assert receiver.received[-1]["verified_by"] == [new]


def test_five_days_of_failure_disables_the_endpoint(app, client, admin, receiver, redis_conn):
    endpoint = register(client, admin, receiver)
    receiver.status = 500
    with app.app_context():
        row = db.session.get(WebhookEndpoint, endpoint["id"])
        row.failing_since = datetime.now(timezone.utc) - timedelta(days=5, seconds=1)
        db.session.commit()
    sign_up(client, "late@example.com")
    drain(redis_conn)
    shown = client.get(f"{EP}/{endpoint['id']}", headers=admin).json
    assert shown["enabled"] is False and "5 days" in shown["disabled_reason"]


def test_a_hanging_receiver_holds_the_worker_only_for_the_timeout(app, client, admin, receiver, redis_conn):
    register(client, admin, receiver)
    receiver.delay = 3
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.with_overrides(outgoing_webhook_read_timeout_seconds=0.3)
    try:
        sign_up(client, "slow@example.com")
        started = datetime.now(timezone.utc)
        drain(redis_conn)
        assert datetime.now(timezone.utc) - started < timedelta(seconds=2)
    finally:
        app.config["SETTINGS"] = settings
    with app.app_context():
        [d] = db.session.query(WebhookDelivery).all()
        assert d.status == "pending" and d.attempts == 1 and "ReadTimeout" in d.last_error


def test_big_responses_are_read_up_to_one_kib(app, client, admin, receiver, redis_conn):
    register(client, admin, receiver)
    receiver.body = b"x" * 100_000
    sign_up(client, "big@example.com")
    drain(redis_conn)
    with app.app_context():
        [d] = db.session.query(WebhookDelivery).all()
        assert d.status == "succeeded" and d.last_response_snippet == "x" * 1024


def test_production_refuses_private_targets_at_delivery(app, client, admin, receiver, redis_conn):
    endpoint = register(client, admin, receiver)
    settings = app.config["SETTINGS"]
    with app.app_context():
        db.session.get(WebhookEndpoint, endpoint["id"]).url = receiver.url.replace("http://127.0.0.1", "https://localhost")
        db.session.commit()
    app.config["SETTINGS"] = settings.with_overrides(app_env="production")
    try:
        r = client.post(EP, json={"url": "http://example.com/hooks"}, headers=admin)
        assert r.status_code == 422 and "url" in r.json["errors"]["json"]
        sign_up(client, "ssrf@example.com")
        drain(redis_conn)
    finally:
        app.config["SETTINGS"] = settings
    assert receiver.received == []
    with app.app_context():
        [d] = db.session.query(WebhookDelivery).all()
        assert d.last_error.startswith("refused: host 'localhost' resolves to non-public address")


@pytest.mark.parametrize("body,field", [
    ({"url": "ftp://example.com"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "https://example.com", "event_types": ["invoice.exploded"]}, "event_types"),
    ({"url": "https://example.com", "secret": "whsec_mine"}, "secret"),
    ({}, "url"),
])
def test_bad_endpoints_are_422s_naming_the_field_and_leave_nothing(app, client, admin, body, field):
    r = client.post(EP, json=body, headers=admin)
    assert r.status_code == 422 and field in r.json["errors"]["json"], r.json
    assert client.get(EP, headers=admin).json["items"] == []


def test_bad_arguments_elsewhere_are_422s(client, admin, receiver):
    endpoint = register(client, admin, receiver)
    assert client.post(f"{EP}/{endpoint['id']}/rotate-secret", json={"overlap_seconds": -1},
                       headers=admin).status_code == 422
    assert client.post(f"{EP}/{endpoint['id']}/replay", json={"since": "2027-01-01T00:00:00"},
                       headers=admin).status_code == 422  # naive time
    assert client.get("/v1/admin/events?limit=0", headers=admin).status_code == 422
    assert client.get("/v1/admin/events?starting_after=evt_nope", headers=admin).status_code == 422
    assert client.post("/v1/admin/events/evt_nope/replay", json={"endpoint_id": endpoint["id"]},
                       headers=admin).status_code == 404


def test_only_admins(client, make_user):
    _, user = make_user("plain@example.com")
    assert client.post(EP, json={"url": "bad"}, headers=user).status_code == 403
    assert client.get("/v1/admin/events", headers=user).status_code == 403
    assert client.get(EP).status_code == 401


def test_our_signer_matches_the_reference_library():
    from standardwebhooks.webhooks import Webhook

    from subscription_app.integrations import signing
    secret, body, stamp = signing.new_secret(), b'{"type":"invoice.paid"}', datetime.now(timezone.utc)
    ours = signing.sign(secret, "msg_1", int(stamp.timestamp()), body)
    assert ours == Webhook(secret).sign("msg_1", stamp, body.decode())
    assert Webhook(signing.new_secret()).sign("msg_1", stamp, body.decode()) != ours
