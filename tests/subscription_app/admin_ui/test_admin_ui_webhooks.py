"""The admin UI's webhook pages (issue #18): register (secret shown once), rotate, disable and enable,
the delivery log with every attempt, replay of one event and of failures since a time, delete.
Real worker, real receiver verifying with `standardwebhooks`; forms posted with their CSRF token."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.integrations.models import WebhookDelivery, WebhookEndpoint
from tests.support.admin_ui import log_in, post_form
from tests.support.integrations import sign_up
from tests.support.payment_fixtures import drain

pytestmark = [pytest.mark.subscription]
LIST = "/admin/webhooks"


def text(response) -> str:
    return response.get_data(as_text=True)


def shown_secret(ui, location: str) -> str:
    """The secret on the page a POST redirected to; that page shows it once, then never again."""
    assert "whsec_" not in location  # a one-time token in the URL, not the secret
    secret = re.search(r'<code id="secret">(whsec_[^<]+)</code>', text(ui.get(location))).group(1)
    again = text(ui.get(location))
    assert secret not in again and "The signing secret was shown already" in again
    return secret


def register(ui, receiver, **extra):
    data = {"url": receiver.url, "description": "crm sync", **extra}
    response = post_form(ui, LIST, data)
    assert response.status_code == 303, text(response)[:2000]
    secret = shown_secret(ui, response.headers["Location"])
    receiver.secrets.append(secret)
    endpoint = db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.url == receiver.url))
    return endpoint, secret


def test_register_shows_the_secret_once_and_audits_the_admin(ui, admin, receiver):
    log_in(ui)
    assert ui.get(LIST).status_code == 200 and "Webhooks</a>" in text(ui.get("/admin/"))  # in the nav
    endpoint, secret = register(ui, receiver, event_types=["customer.created", "invoice.paid"])
    assert endpoint.secret == secret and endpoint.event_types == ["customer.created", "invoice.paid"]
    page = f"{LIST}/{endpoint.id}"
    assert secret not in text(ui.get(page)) and secret not in text(ui.get(LIST))
    assert receiver.url in text(ui.get(LIST)) and "customer.created, invoice.paid" in text(ui.get(LIST))
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook_endpoint.created"))
    assert (row.actor_user_id, row.source, row.object_id) == (admin.id, "admin-ui", str(endpoint.id))
    labels = set(re.findall(r'<label for="([^"]+)"', text(ui.get(LIST))))
    inputs = set(re.findall(r'<input[^>]+id="([^"]+)"', text(ui.get(LIST)))) - {"csrf_token", "submit"}
    assert inputs <= labels and {"url", "description", "event_types-0"} <= inputs  # every input labelled


@pytest.mark.parametrize("data,message", [
    ({"url": "ftp://example.com/hooks"}, "Must be an absolute https or http URL."),
    ({"url": ""}, "This field is required."),
    ({"url": "https://example.com", "event_types": ["invoice.exploded"]}, "not a valid choice"),
])
def test_bad_input_is_shown_beside_its_field_and_writes_nothing(ui, admin, data, message):
    log_in(ui)
    response = post_form(ui, LIST, data)
    assert response.status_code == 422 and message in text(response), text(response)[:3000]
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.object_type == "webhook_endpoint")) == 0


def test_posts_without_the_csrf_token_are_refused(ui, admin, receiver):
    log_in(ui)
    assert ui.post(LIST, data={"url": receiver.url}).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_delivery_log_shows_attempts_and_resending_one_event_delivers_it(ui, admin, receiver, client,
                                                                          redis_conn):
    log_in(ui)
    endpoint, _ = register(ui, receiver)
    page = f"{LIST}/{endpoint.id}"
    receiver.status, receiver.body = 500, b"database is down"
    sign_up(client, "log@example.com")
    drain(redis_conn)
    [delivery] = db.session.scalars(select(WebhookDelivery)).all()
    shown = text(ui.get(page))
    assert delivery.id in shown and "customer.created" in shown and "1 attempts: HTTP 500" in shown
    assert "<td>500</td>" in shown and " ms</td>" in shown and "database is down" in shown
    assert delivery.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") in shown  # the next attempt
    assert delivery.id not in text(ui.get(page + "?status=succeeded"))

    receiver.status = 200
    resent = post_form(ui, page + "/replay-event", {"event_id": delivery.event_id}, page=page)
    assert resent.status_code == 302
    drain(redis_conn)
    assert [r["id"] for r in receiver.verified("customer.created")] == [delivery.id, delivery.id]
    after = text(ui.get(page + "?status=succeeded"))
    assert delivery.id in after and "<td>200</td>" in after
    missing = post_form(ui, page + "/replay-event", {"event_id": "evt_nope"}, page=page)
    assert missing.status_code == 404 and "Event not found" in text(missing)


def test_disable_enable_and_replay_failures_since_a_time(ui, admin, receiver, client, redis_conn):
    log_in(ui)
    endpoint, _ = register(ui, receiver)
    page = f"{LIST}/{endpoint.id}"
    receiver.status = 410  # the receiver says Gone: the endpoint is disabled, the delivery failed
    sign_up(client, "gone@example.com")
    drain(redis_conn)
    assert "disabled: the receiver answered 410 Gone" in text(ui.get(page))
    since = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    refused = post_form(ui, page + "/replay", {"since": since}, page=page)
    assert refused.status_code == 409 and "enable it first" in text(refused)

    receiver.status = 200
    assert post_form(ui, page + "/enabled", {"enabled": "true"}, page=page).status_code == 302
    db.session.refresh(endpoint)
    assert endpoint.enabled is True
    replayed = post_form(ui, page + "/replay", {"since": since}, page=page)
    assert replayed.status_code == 302
    assert "Replaying 1 failed deliveries" in text(ui.get(page))
    drain(redis_conn)
    assert len(receiver.verified("customer.created")) == 2  # the 410 one, then the replay
    assert post_form(ui, page + "/replay", {"since": "yesterday"}, page=page).status_code == 422

    assert post_form(ui, page + "/enabled", {"enabled": "false"}, page=page).status_code == 302
    db.session.refresh(endpoint)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "disabled by the operator")
    assert post_form(ui, page + "/enabled", {"enabled": "maybe"}, page=page).status_code == 422
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(endpoint.id))
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.replayed",
                       "webhook_endpoint.updated"]


def test_rotate_shows_the_new_secret_once_and_both_sign_during_the_overlap(ui, admin, receiver, client,
                                                                            redis_conn):
    log_in(ui)
    endpoint, old = register(ui, receiver)
    page = f"{LIST}/{endpoint.id}"
    bad = post_form(ui, page + "/rotate", {"overlap_seconds": "-1"}, page=page)
    assert bad.status_code == 422 and 'id="overlap_seconds-error"' in text(bad)
    rotated = post_form(ui, page + "/rotate", {"overlap_seconds": "3600"}, page=page)
    assert rotated.status_code == 303
    new = shown_secret(ui, rotated.headers["Location"])
    receiver.secrets.append(new)
    assert new != old and new not in text(ui.get(page)) and "Previous secret signs until" in text(ui.get(page))
    sign_up(client, "rotate@example.com")
    drain(redis_conn)
    assert receiver.received[-1]["verified_by"] == [old, new]


def test_delete_removes_the_endpoint(ui, admin, receiver):
    log_in(ui)
    endpoint, _ = register(ui, receiver)
    page = f"{LIST}/{endpoint.id}"
    deleted = post_form(ui, page + "/delete", {}, page=page)
    assert deleted.status_code == 302 and deleted.headers["Location"] == LIST
    assert db.session.get(WebhookEndpoint, endpoint.id) is None
    assert ui.get(page).status_code == 404
