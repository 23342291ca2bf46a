"""Deactivating codes and coupons, removing a subscription's discount: audited, announced (docs/discounts.md)."""
import uuid

import pytest
from sqlalchemy import select, update

from core.errors import ApiError
from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.discounts import redeem
from subscription_app.discounts.models import Coupon, PromotionCode
from subscription_app.integrations.models import IntegrationEvent
from subscription_app.models import Plan, Subscription, SubscriptionEvent
from tests.support.billing_support import (ENTERPRISE_MONTHLY_ID, PRO_MONTHLY_ID, advance_to, pay, run_cycle,
                                           subscribe_and_pay)
from tests.support.discounts import lines, make_code, subscribe

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
FOREVER15 = {"name": "Loyal 15 %", "percent_off": 15, "duration": "forever"}


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")[1]


def audit_actions(object_id) -> list[tuple[str, str]]:
    return [(a.action, a.source) for a in db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == str(object_id)).order_by(AuditEvent.id))]


def events_of(object_id) -> list[str]:
    return list(db.session.scalars(select(IntegrationEvent.type).where(IntegrationEvent.object_id == str(object_id))
                                   .order_by(IntegrationEvent.created_at)))


def renew(client, h, sub) -> dict:
    sub = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    return client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["latest_invoice"]


def test_a_deactivated_code_is_refused_and_its_redemptions_keep_their_discount(client, admin, make_user,
                                                                                  payment_stub):
    code = make_code(client, admin, "LOYAL", coupon=FOREVER15)
    user, h = make_user()
    r = subscribe(client, h, "LOYAL")
    assert lines(r.json["latest_invoice"]) == [("plan", 2900), ("discount", -435)]
    pay(client, r.json["latest_invoice"], user.id)
    off = client.patch(f"/v1/admin/promotion-codes/{code['id']}", json={"active": False}, headers=admin)
    assert off.status_code == 200 and off.json["active"] is False
    again = client.patch(f"/v1/admin/promotion-codes/{code['id']}", json={"active": False}, headers=admin)
    assert again.status_code == 200  # setting it again changes nothing, so it is not audited twice

    refused = subscribe(client, make_user()[1], "loyal")
    assert refused.status_code == 422
    assert refused.json["errors"]["json"]["promotion_code"] == ["This promotion code is no longer active."]
    other, other_h = make_user()
    later = subscribe_and_pay(client, other_h, other.id)
    assert client.post(f"/v1/subscriptions/{later['id']}/discount", json={"promotion_code": "LOYAL"},
                       headers=other_h).status_code == 422

    renewal = renew(client, h, r.json)  # the redemption made before keeps its discount
    assert lines(renewal) == [("plan", 2900), ("discount", -435)] and renewal["amount_due_cents"] == 2465
    assert audit_actions(code["id"]) == [("promotion_code.created", "api"), ("promotion_code.deactivated", "api")]
    assert events_of(code["id"]) == ["promotion_code.updated"]

    on = client.patch(f"/v1/admin/promotion-codes/{code['id']}", json={"active": True}, headers=admin)
    assert on.status_code == 200 and subscribe(client, make_user()[1], "LOYAL").status_code == 201


def test_a_deactivated_coupon_refuses_every_code_and_blocks_their_reactivation(client, admin, make_user):
    code = make_code(client, admin, "SPRING", coupon=FOREVER15)
    coupon_id = code["coupon_id"]
    r = client.patch(f"/v1/admin/coupons/{coupon_id}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json["active"] is False
    assert client.get("/v1/admin/coupons", headers=admin).json[0]["active"] is False
    refused = subscribe(client, make_user()[1], "SPRING")
    assert refused.status_code == 422
    assert "coupon was deactivated" in refused.json["errors"]["json"]["promotion_code"][0]
    client.patch(f"/v1/admin/promotion-codes/{code['id']}", json={"active": False}, headers=admin)
    back = client.patch(f"/v1/admin/promotion-codes/{code['id']}", json={"active": True}, headers=admin)
    assert back.status_code == 422 and "active" in back.json["errors"]["json"]
    assert db.session.scalar(select(PromotionCode.active)) is False
    assert audit_actions(coupon_id) == [("coupon.created", "api"), ("coupon.deactivated", "api")]
    assert events_of(coupon_id) == ["coupon.updated"]


def test_deactivation_input_and_roles(client, admin, make_user):
    code = make_code(client, admin, "BAD")
    bad = client.patch(f"/v1/admin/coupons/{code['coupon_id']}", json={"active": "no"}, headers=admin)
    assert bad.status_code == 422 and "active" in bad.json["errors"]["json"]
    missing = client.patch(f"/v1/admin/promotion-codes/{code['id']}", json={}, headers=admin)
    assert missing.status_code == 422 and "active" in missing.json["errors"]["json"]
    assert client.patch(f"/v1/admin/coupons/{uuid.uuid4()}", json={"active": False},
                        headers=admin).status_code == 404
    user_h = make_user()[1]
    assert client.patch(f"/v1/admin/promotion-codes/{code['id']}", json={"active": False},
                        headers=user_h).status_code == 403
    assert db.session.scalar(select(Coupon.active)) is True and db.session.scalar(select(PromotionCode.active))


def test_admin_removes_a_discount_as_stripe_does(client, admin, make_user, payment_stub):
    make_code(client, admin, "LOYAL", coupon=FOREVER15)
    user, h = make_user()
    r = subscribe(client, h, "LOYAL")
    pay(client, r.json["latest_invoice"], user.id)
    sub_id = r.json["id"]
    quote = client.post(f"/v1/subscriptions/{sub_id}/plan/preview", json={"plan_id": str(ENTERPRISE_MONTHLY_ID)},
                        headers=h).json
    assert any(line["kind"] == "discount" for line in quote["lines"])
    assert client.delete(f"/v1/admin/subscriptions/{sub_id}/discount", headers=h).status_code == 403
    shown = client.get(f"/v1/subscriptions/{sub_id}", headers=h).json["discount"]
    assert (shown["coupon"]["percent_off"], shown["periods_left"]) == (15, None)

    gone = client.delete(f"/v1/admin/subscriptions/{sub_id}/discount", headers=admin)
    assert gone.status_code == 200, gone.json
    assert gone.json["deleted"] is True and gone.json["coupon"]["percent_off"] == 15
    assert client.delete(f"/v1/admin/subscriptions/{sub_id}/discount", headers=admin).status_code == 404
    assert client.get(f"/v1/subscriptions/{sub_id}", headers=h).json["discount"] is None
    stale = client.put(f"/v1/subscriptions/{sub_id}/plan",
                       json={"plan_id": str(ENTERPRISE_MONTHLY_ID), "quote_id": quote["quote_id"]}, headers=h)
    assert stale.status_code == 409  # priced with the discount: outdated

    renewal = renew(client, h, r.json)
    assert lines(renewal) == [("plan", 2900)] and renewal["amount_due_cents"] == 2900
    first = client.get(f"/v1/invoices/{r.json['latest_invoice']['id']}", headers=h).json
    assert lines(first) == [("plan", 2900), ("discount", -435)]  # what was billed stays billed
    assert db.session.scalar(select(Coupon.times_redeemed)) == 1
    assert [(a, s) for a, s in audit_actions(sub_id)] == [("subscription.discount_deleted", "api")]
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "subscription.discount_deleted"))
    assert audit.before["discount"]["periods_left"] is None and audit.after == {"discount": None}
    history = db.session.scalars(select(SubscriptionEvent.type).where(
        SubscriptionEvent.subscription_id == uuid.UUID(sub_id))).all()
    assert "discount_deleted" in history
    discount_id = gone.json["id"]
    assert events_of(discount_id) == ["discount.created", "discount.deleted"]
    assert events_of(sub_id).count("subscription.updated") >= 1
    # A new code may be redeemed after the removal.
    make_code(client, admin, "COMEBACK", coupon={"name": "10 %", "percent_off": 10, "duration": "once"})
    assert client.post(f"/v1/subscriptions/{sub_id}/discount", json={"promotion_code": "COMEBACK"},
                       headers=h).status_code == 201


@pytest.fixture
def cli(app, seeded):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_cli_deactivates_and_reactivates(cli, client, admin):
    code = make_code(client, admin, "AUTUMN")
    off = cli("promotion-codes", "deactivate", "autumn")
    assert off.exit_code == 0 and "active=False" in off.output, off.output
    assert cli("coupons", "deactivate", code["coupon_id"]).exit_code == 0
    refused = cli("promotion-codes", "activate", "AUTUMN")
    assert refused.exit_code == 1 and "field: active" in refused.output
    assert cli("coupons", "deactivate", "not-an-id").exit_code == 2
    assert cli("promotion-codes", "deactivate", "NOSUCH").exit_code == 2
    assert cli("coupons", "activate", code["coupon_id"]).exit_code == 0
    assert cli("promotion-codes", "activate", code["id"]).exit_code == 0
    db.session.expire_all()
    assert db.session.scalar(select(PromotionCode.active)) is True
    assert ("promotion_code.deactivated", "cli") in audit_actions(code["id"])
    assert "active=True" in cli("coupons", "list").output


def test_a_deactivation_between_the_check_and_the_count_still_refuses(client, admin, make_user, payment_stub):
    """The conditional UPDATE that counts a use requires the code and its coupon active, so no race slips by."""
    make_code(client, admin, "RACE")
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    with client.application.app_context():
        live = db.session.get(Subscription, uuid.UUID(sub["id"]))
        code = redeem.resolve("RACE", user.id, db.session.get(Plan, live.plan_id))  # the friendly check passes
        db.session.execute(update(Coupon).values(active=False))  # as a concurrent deactivation commits
        with pytest.raises(ApiError) as refused:
            redeem.redeem(code, live)
        db.session.rollback()
        assert refused.value.code == 422
        assert "coupon was deactivated" in refused.value.errors["json"]["promotion_code"][0]
        assert db.session.scalar(select(PromotionCode.times_redeemed)) == 0
