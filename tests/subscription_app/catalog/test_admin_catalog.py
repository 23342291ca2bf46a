"""The operator's catalog over /v1/admin: plans, price versions, migrations, features, audit (issue #15)."""
import uuid

import pytest
from sqlalchemy import func, select

from core.extensions import db
from subscription_app.catalog import audit
from subscription_app.catalog.models import AuditEvent, Feature, PlanPrice
from subscription_app.models import Invoice, Plan, Subscription
from subscription_app.seed import PRO_MONTHLY_ID
from tests.support.billing_support import advance_to, run_cycle, subscribe_and_pay

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
TEAM = {"name": "Team", "price_cents": 4900, "currency": "USD", "billing_interval": "month",
        "feature_limits": {"api_calls": 50000}}


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")


def create_team(client, headers, **overrides):
    return client.post("/v1/admin/plans", json={**TEAM, **overrides}, headers=headers)


def counts() -> tuple[int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Plan, PlanPrice, AuditEvent))


def renewal_amount(sub_id: str) -> int:
    invoice = db.session.scalar(select(Invoice).where(Invoice.subscription_id == uuid.UUID(sub_id),
                                                      Invoice.reason == "subscription_cycle"))
    return invoice.amount_due_cents


def test_team_plan_new_price_and_no_migration(client, admin, make_user):
    """Done-when of #15: Team at 4900, a subscriber, a new price 5900: old keeps 4900, new pays 5900."""
    _, h = admin
    created = create_team(client, h)
    assert created.status_code == 201, created.json
    team = created.json
    assert team["features"] == [{"key": "api_calls", "kind": "metered", "value": 50000}]
    assert any(p["id"] == team["id"] for p in client.get("/v1/plans").json)

    old_user, old_h = make_user()
    old_sub = subscribe_and_pay(client, old_h, old_user.id, plan_id=team["id"])
    assert old_sub["status"] == "active"
    used = client.post("/v1/usage/features/api_calls/use", json={"delta": 3}, headers=old_h)
    assert used.status_code == 200 and used.json["limit"] == 50000, used.json  # metering reads the catalog
    price = client.post(f"/v1/admin/plans/{team['id']}/prices", json={"price_cents": 5900}, headers=h)
    assert price.status_code == 201 and price.json["version"] == 2 and price.json["amount_cents"] == 5900

    new_user, new_h = make_user()
    new_sub = client.post("/v1/subscriptions", json={"plan_id": team["id"]}, headers=new_h).json
    assert new_sub["latest_invoice"]["amount_due_cents"] == 5900
    advance_to(client.application, old_sub["current_period_end"])
    run_cycle()
    assert renewal_amount(old_sub["id"]) == 4900  # nobody was migrated


def test_migration_dry_run_lists_and_writes_nothing_then_applies_at_next_period(client, admin, make_user):
    _, h = admin
    team = create_team(client, h).json
    user, uh = make_user("payer@example.com")
    sub = subscribe_and_pay(client, uh, user.id, plan_id=team["id"])
    client.post(f"/v1/admin/plans/{team['id']}/prices", json={"price_cents": 5900}, headers=h)
    before = counts()
    dry = client.post(f"/v1/admin/plans/{team['id']}/migrate", json={"dry_run": True}, headers=h)
    assert dry.status_code == 200, dry.json
    assert dry.json["count"] == 1 and dry.json["subscriptions"][0]["email"] == "payer@example.com"
    assert (dry.json["subscriptions"][0]["old_amount_cents"], dry.json["subscriptions"][0]["new_amount_cents"]) \
        == (4900, 5900)
    assert counts() == before
    assert db.session.get(Subscription, uuid.UUID(sub["id"])).pending_price_id is None

    done = client.post(f"/v1/admin/plans/{team['id']}/migrate", json={"subscription_id": sub["id"]}, headers=h)
    assert done.status_code == 200 and done.json["count"] == 1 and done.json["dry_run"] is False
    db.session.expire_all()
    assert db.session.get(Subscription, uuid.UUID(sub["id"])).pending_price_id is not None
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    assert renewal_amount(sub["id"]) == 5900
    db.session.expire_all()
    moved = db.session.get(Subscription, uuid.UUID(sub["id"]))
    assert moved.pending_price_id is None and db.session.get(PlanPrice, moved.price_id).version == 2


def test_customer_gets_403_on_every_admin_route(client, seeded, make_user):
    _, h = make_user()
    plan = str(PRO_MONTHLY_ID)
    for method, path, body in [("get", "/v1/admin/plans", None), ("post", "/v1/admin/plans", TEAM),
                               ("patch", f"/v1/admin/plans/{plan}", {"name": "X"}),
                               ("post", f"/v1/admin/plans/{plan}/archive", None),
                               ("post", f"/v1/admin/plans/{plan}/prices", {"price_cents": 1}),
                               ("post", f"/v1/admin/plans/{plan}/migrate", {"dry_run": True}),
                               ("get", "/v1/admin/features", None), ("get", "/v1/admin/audit", None)]:
        response = getattr(client, method)(path, json=body, headers=h)
        assert response.status_code == 403, (method, path, response.json)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.source == "api")) == 0


@pytest.mark.parametrize("override,field", [
    ({"name": "pro"}, "name"),  # duplicates the seed's Pro, case-insensitively
    ({"price_cents": -1}, "price_cents"),
    ({"price_cents": 49.5}, "price_cents"),
    ({"price_cents": "4900"}, "price_cents"),
    ({"currency": "XYZ"}, "currency"),
    ({"currency": "usd"}, "currency"),
    ({"billing_interval": "fortnight"}, "billing_interval"),
    ({"interval_count": 37}, "interval_count"),
    ({"feature_limits": {"api_calls": "lots"}}, "feature_limits.api_calls"),
    ({"feature_limits": {"api_calls": -5}}, "feature_limits.api_calls"),
    ({"feature_limits": {"api_calls": True}}, "feature_limits.api_calls"),
    ({"feature_limits": {"teleport": 1}}, "feature_limits.teleport"),
])
def test_bad_plan_input_is_a_422_naming_the_field_and_writes_nothing(client, admin, override, field):
    _, h = admin
    before = counts()
    response = create_team(client, h, **override)
    assert response.status_code == 422, response.json
    assert field in str(response.json["errors"]), response.json
    assert counts() == before


def test_update_limits_is_audited_with_before_and_after(client, admin):
    user, h = admin
    team = create_team(client, h).json
    response = client.patch(f"/v1/admin/plans/{team['id']}", headers=h,
                            json={"description": "Small teams", "feature_limits": {"api_calls": 60000}})
    assert response.status_code == 200 and response.json["feature_limits"] == {"api_calls": 60000}
    events = client.get(f"/v1/admin/audit?object_type=plan&object_id={team['id']}", headers=h).json["items"]
    assert [e["action"] for e in events] == ["plan.updated", "plan.created"]
    assert events[0]["actor_user_id"] == user.id and events[0]["source"] == "api" and events[0]["request_id"]
    assert events[0]["before"]["feature_limits"] == {"api_calls": 50000}
    assert events[0]["after"]["feature_limits"] == {"api_calls": 60000}
    assert events[0]["after"]["description"] == "Small teams"


def test_a_price_is_never_edited_in_place(client, admin):
    _, h = admin
    team = create_team(client, h).json
    response = client.patch(f"/v1/admin/plans/{team['id']}", json={"price_cents": 1}, headers=h)
    assert response.status_code == 422 and "price_cents" in response.json["errors"]["json"]
    assert [p["amount_cents"] for p in client.get(f"/v1/admin/plans/{team['id']}/prices", headers=h).json] == [4900]


def test_archived_plan_refuses_new_subscribers_and_keeps_existing(client, admin, make_user):
    _, h = admin
    team = create_team(client, h).json
    user, uh = make_user()
    sub = subscribe_and_pay(client, uh, user.id, plan_id=team["id"])
    assert client.post(f"/v1/admin/plans/{team['id']}/archive", headers=h).json["is_active"] is False
    assert all(p["id"] != team["id"] for p in client.get("/v1/plans").json)
    _, other_h = make_user()
    refused = client.post("/v1/subscriptions", json={"plan_id": team["id"]}, headers=other_h)
    assert refused.status_code == 422 and "plan_id" in refused.json["errors"]["json"]
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    assert renewal_amount(sub["id"]) == 4900
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=uh).json["plan_id"] == team["id"]
    assert client.post(f"/v1/admin/plans/{team['id']}/unarchive", headers=h).json["is_active"] is True


def test_editing_limits_invalidates_subscribers_cached_entitlements(client, admin, make_user):
    from subscription_app.usage.entitlements import cached_entitlement

    _, h = admin
    team = create_team(client, h).json
    user, uh = make_user()
    subscribe_and_pay(client, uh, user.id, plan_id=team["id"])
    assert cached_entitlement(user.id).limits["api_calls"] == 50000
    client.patch(f"/v1/admin/plans/{team['id']}", json={"feature_limits": {"api_calls": 7}}, headers=h)
    assert cached_entitlement(user.id).limits["api_calls"] == 7


def test_features_catalogue_and_flags(client, admin):
    _, h = admin
    created = client.post("/v1/admin/features", json={"key": "sso", "kind": "flag"}, headers=h)
    assert created.status_code == 201
    assert client.post("/v1/admin/features", json={"key": "sso", "kind": "flag"}, headers=h).status_code == 422
    assert client.post("/v1/admin/features", json={"key": "x", "kind": "quota"}, headers=h).json["errors"]["json"]\
        .keys() == {"kind"}
    bad = create_team(client, h, feature_limits={"sso": 1})
    assert bad.status_code == 422 and "feature_limits.sso" in bad.json["errors"]["json"]
    plan = create_team(client, h, feature_limits={"api_calls": None, "sso": True}).json
    assert {f["key"]: (f["kind"], f["value"]) for f in plan["features"]} == \
        {"api_calls": ("metered", None), "sso": ("flag", True)}
    assert {f["key"] for f in client.get("/v1/admin/features", headers=h).json} >= {"api_calls", "sso"}
    assert db.session.get(Feature, "sso").kind == "flag"


def test_create_plan_replays_with_the_same_idempotency_key(client, admin):
    _, h = admin
    keyed = {**h, "Idempotency-Key": "team-1"}
    first, second = create_team(client, keyed), create_team(client, keyed)
    assert first.status_code == second.status_code == 201 and first.json["id"] == second.json["id"]
    assert second.headers.get("Idempotent-Replayed")
    assert db.session.scalar(select(func.count()).select_from(Plan).where(Plan.name == "Team")) == 1


def test_openapi_documents_the_admin_catalog_with_examples(client):
    spec = client.get("/openapi.json").json
    assert "Admin: catalog" in {t["name"] for t in spec["tags"]}
    create = spec["paths"]["/v1/admin/plans"]["post"]
    assert create["tags"] == ["Admin: catalog"]
    assert create["requestBody"]["content"]["application/json"]["example"]["price_cents"] == 4900
    assert "/v1/admin/audit" in spec["paths"] and "/v1/admin/plans/{plan_id}/migrate" in spec["paths"]


def test_the_audit_log_filters_on_every_kind_of_object_it_records(client, admin):
    _, admin = admin
    coupon = client.post("/v1/admin/coupons", json={"name": "Ten", "percent_off": 10, "duration": "once"},
                         headers=admin)
    assert coupon.status_code == 201, coupon.json
    for object_type in audit.OBJECT_TYPES:
        r = client.get(f"/v1/admin/audit?object_type={object_type}", headers=admin)
        assert r.status_code == 200, (object_type, r.json)
    coupons = client.get("/v1/admin/audit?object_type=coupon", headers=admin).json["items"]
    assert [(e["action"], e["object_id"]) for e in coupons] == [("coupon.created", coupon.json["id"])]
    bad = client.get("/v1/admin/audit?object_type=spaceship", headers=admin)
    assert bad.status_code == 422 and "object_type" in bad.json["errors"]["query"]


def test_an_unknown_audit_object_type_is_a_programming_error(app):
    with pytest.raises(ValueError, match="unknown audit object type"):
        audit.record(audit.Actor(None, "cli"), "x.y", "spaceship", 1, None, None)
