"""Every operator action on an integrator endpoint is in the back office's audit log (issue #18):
create, update, rotate, replay, delete, from the admin API and the CLI, never with a secret."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from tests.support.integrations import EP, register, sign_up
from tests.support.payment_fixtures import drain

pytestmark = [pytest.mark.subscription]


@pytest.fixture
def admin(make_user):
    return make_user("ops@example.com", role="admin")


def trail(client, headers, endpoint_id) -> list[dict]:
    """The endpoint's audit rows, oldest first, as GET /v1/admin/audit shows them."""
    r = client.get(f"/v1/admin/audit?object_type=webhook_endpoint&object_id={endpoint_id}&per_page=100",
                   headers=headers)
    assert r.status_code == 200, r.json
    return r.json["items"][::-1]


def test_api_actions_are_audited_with_the_admin_and_no_secret(client, admin, receiver, redis_conn):
    user, headers = admin
    endpoint = register(client, headers, receiver, description="crm")
    eid = endpoint["id"]
    assert client.patch(f"{EP}/{eid}", json={"event_types": ["customer.created"]}, headers=headers).status_code == 200
    rotated = client.post(f"{EP}/{eid}/rotate-secret", json={"overlap_seconds": 60}, headers=headers).json
    sign_up(client, "a@example.com")
    drain(redis_conn)
    [event] = client.get("/v1/admin/events?type=customer.created&limit=1", headers=headers).json["items"]
    assert client.post(f"/v1/admin/events/{event['id']}/replay", json={"endpoint_id": eid},
                       headers=headers).status_code == 202
    since = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert client.post(f"{EP}/{eid}/replay", json={"since": since}, headers=headers).json == {"replayed": 0}
    assert client.delete(f"{EP}/{eid}", headers=headers).status_code == 204

    rows = trail(client, headers, eid)
    assert [r["action"] for r in rows] == [
        "webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.secret_rotated",
        "webhook_endpoint.replayed", "webhook_endpoint.replayed", "webhook_endpoint.deleted"]
    assert {(r["actor_user_id"], r["source"], r["object_type"]) for r in rows} == {
        (user.id, "api", "webhook_endpoint")}
    created, updated, rotation, one, since_row, deleted = rows
    assert created["before"] is None and created["after"]["url"] == receiver.url
    assert created["after"]["description"] == "crm" and created["after"]["event_types"] == []
    assert updated["before"]["event_types"] == [] and updated["after"]["event_types"] == ["customer.created"]
    assert rotation["before"]["previous_secret_expires_at"] is None
    assert rotation["after"]["previous_secret_expires_at"] is not None and rotation["after"]["overlap_seconds"] == 60
    assert one["after"]["event_id"] == event["id"] and one["after"]["delivery_id"].startswith("msg_")
    assert since_row["after"]["replayed"] == 0 and since_row["after"]["since"].startswith(since[:19].replace("T", " "))
    assert deleted["before"]["url"] == receiver.url and deleted["after"] is None
    text = json.dumps(rows)
    assert "whsec_" not in text and endpoint["secret"] not in text and rotated["secret"] not in text


def test_refused_changes_write_no_audit_row(app, client, admin, receiver):
    _, headers = admin
    eid = register(client, headers, receiver)["id"]
    count = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert client.patch(f"{EP}/{eid}", json={"url": "ftp://x"}, headers=headers).status_code == 422
    assert client.post(f"{EP}/{eid}/rotate-secret", json={"overlap_seconds": -1}, headers=headers).status_code == 422
    assert client.patch(f"{EP}/{eid}", json={"enabled": False}, headers=headers).status_code == 200
    since = datetime.now(timezone.utc).isoformat()
    assert client.post(f"{EP}/{eid}/replay", json={"since": since}, headers=headers).status_code == 409
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == count + 1  # the disable only
    [*_, disabled] = trail(client, headers, eid)
    assert disabled["before"]["enabled"] is True and disabled["after"]["enabled"] is False
    assert disabled["after"]["disabled_reason"] == "disabled by the operator"


def test_cli_actions_are_audited_as_the_cli(app, client, admin, receiver):
    _, headers = admin
    runner = app.test_cli_runner()

    def cli(*args):
        result = runner.invoke(args=["webhooks", "endpoints", *args])
        assert result.exit_code == 0, result.output
        return result.output

    out = cli("add", receiver.url, "--event", "customer.created", "--description", "from the shell")
    eid = out.split()[0]
    assert "whsec_" in out  # shown once, to the operator
    cli("rotate", eid, "--overlap-seconds", "0")
    cli("disable", eid)
    cli("enable", eid)
    assert "replaying 0 deliveries" in cli("replay", eid, "--since", "2026-01-01T00:00:00")
    cli("delete", eid)
    assert "not found" in runner.invoke(args=["webhooks", "endpoints", "delete", eid]).output
    rows = trail(client, headers, eid)
    assert [r["action"].split(".")[1] for r in rows] == ["created", "secret_rotated", "updated", "updated", "replayed",
                                                         "deleted"]
    assert {(r["source"], r["actor_user_id"]) for r in rows} == {("cli", None)}
    assert "whsec_" not in json.dumps(rows)


def test_audit_filter_names_the_new_object_type(client, admin):
    _, headers = admin
    assert client.get("/v1/admin/audit?object_type=webhook_endpoint", headers=headers).status_code == 200
    r = client.get("/v1/admin/audit?object_type=webhook", headers=headers)
    assert r.status_code == 422 and "object_type" in r.json["errors"]["query"]
