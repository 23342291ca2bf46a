"""Coupons and promotion codes (issue #16): admin API, subscribe with a code, renewals, race-free limits."""
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import clock
from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.discounts.models import Coupon, CouponRedemption, Discount, PromotionCode
from subscription_app.models import Invoice, Subscription
from tests.support.billing_support import (BASIC_MONTHLY_ID, PRO_MONTHLY_ID, advance_to, pay, run_cycle,
                                           subscribe_and_pay)
from tests.support.discounts import lines, make_code, subscribe

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")[1]


def test_new_user_subscribes_with_a_20_percent_code(client, admin, make_user):
    """The issue's walk-through: Pro at 2900 with WELCOME20 (any case) bills 2320, once."""
    make_code(client, admin)
    user, h = make_user()
    r = subscribe(client, h, "welcome20")
    assert r.status_code == 201, r.json
    invoice = r.json["latest_invoice"]
    assert lines(invoice) == [("plan", 2900), ("discount", -580)]
    assert invoice["amount_due_cents"] == 2320
    assert pay(client, invoice, user.id).json["processed"] is True
    advance_to(client.application, r.json["current_period_end"])
    run_cycle()
    renewal = db.session.scalar(select(Invoice).where(Invoice.reason == "subscription_cycle"))
    assert renewal.amount_due_cents == 2900  # duration once: the renewal is full price
    assert db.session.scalar(select(PromotionCode.times_redeemed)) == 1
    assert db.session.scalar(select(Coupon.times_redeemed)) == 1
    actions = set(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type.in_(("coupon", "promotion_code")), AuditEvent.source == "api")))
    assert actions == {"coupon.created", "promotion_code.created"}


def test_repeating_amount_off_applies_for_n_periods_on_renewals(client, admin, make_user):
    make_code(client, admin, "TWOMONTHS", coupon={"name": "5 off x2", "amount_off_cents": 500, "currency": "USD",
                                                  "duration": "repeating", "duration_in_periods": 2})
    user, h = make_user()
    sub = subscribe(client, h, "TWOMONTHS").json
    assert sub["latest_invoice"]["amount_due_cents"] == 2400
    pay(client, sub["latest_invoice"], user.id)
    dues = []
    for _ in range(2):
        sub = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
        advance_to(client.application, sub["current_period_end"])
        run_cycle()
        sub = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
        dues.append(sub["latest_invoice"]["amount_due_cents"])
        pay(client, sub["latest_invoice"], user.id)
    assert dues == [2400, 2900]  # periods 1 and 2 discounted, period 3 full price


def test_amount_off_never_makes_a_charge_negative(client, admin, make_user):
    make_code(client, admin, "BIGGIFT", coupon={"name": "50 off", "amount_off_cents": 5000, "currency": "USD",
                                                "duration": "forever"})
    _, h = make_user()
    r = subscribe(client, h, "BIGGIFT", plan_id=BASIC_MONTHLY_ID)
    assert r.status_code == 201, r.json
    assert lines(r.json["latest_invoice"]) == [("plan", 900), ("discount", -900)]
    assert r.json["latest_invoice"]["status"] == "paid" and r.json["status"] == "active"


@pytest.mark.parametrize("setup, why", [
    ({"expires_at": "past"}, "expired"),
    ({"max_redemptions": 1, "used": 1}, "used up"),
])
def test_expired_or_exhausted_code_is_a_422_naming_why(client, admin, make_user, setup, why):
    fields = {}
    if setup.get("expires_at"):
        fields["expires_at"] = (clock.utcnow() + timedelta(hours=1)).isoformat()
    if setup.get("max_redemptions"):
        fields["max_redemptions"] = setup["max_redemptions"]
    make_code(client, admin, "LIMITED", **fields)
    if setup.get("used"):
        assert subscribe(client, make_user()[1], "LIMITED").status_code == 201
    if setup.get("expires_at"):
        advance_to(client.application, clock.utcnow() + timedelta(hours=2))
    before = db.session.scalar(select(func.count()).select_from(Subscription))
    r = subscribe(client, make_user()[1], "LIMITED")
    assert r.status_code == 422, r.json
    assert why in r.json["message"] and why in r.json["errors"]["json"]["promotion_code"][0]
    assert db.session.scalar(select(func.count()).select_from(Subscription)) == before


def test_unknown_code_and_plan_not_covered(client, admin, make_user):
    coupon = {"name": "Pro only", "percent_off": 10, "duration": "once", "applies_to_plan_ids": [str(PRO_MONTHLY_ID)]}
    make_code(client, admin, "PROONLY", coupon=coupon)
    _, h = make_user()
    unknown = subscribe(client, h, "NOPE")
    assert unknown.status_code == 422
    assert unknown.json["errors"]["json"]["promotion_code"] == ["Unknown promotion code."]
    other = subscribe(client, h, "PROONLY", plan_id=BASIC_MONTHLY_ID)
    assert other.status_code == 422 and "does not apply" in other.json["message"]
    assert db.session.scalar(select(func.count()).select_from(Subscription)) == 0


def test_once_per_customer(client, admin, make_user):
    make_code(client, admin, "ONCE", once_per_customer=True)
    _, h = make_user()
    first = subscribe(client, h, "ONCE").json
    assert client.delete(f"/v1/subscriptions/{first['id']}", headers=h).status_code == 200
    again = subscribe(client, h, "ONCE")
    assert again.status_code == 422 and "already used" in again.json["message"]
    assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 1


def test_parallel_redemptions_of_the_last_use_exactly_one_wins(app, client, admin, make_user):
    make_code(client, admin, "LASTONE", max_redemptions=1)
    users = [make_user()[1] for _ in range(5)]
    results, barrier = [], threading.Barrier(len(users))

    def go(h):
        c = app.test_client()
        barrier.wait()
        results.append(subscribe(c, h, "LASTONE").status_code)

    threads = [threading.Thread(target=go, args=(h,)) for h in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 422, 422, 422, 422]
    with app.app_context():
        assert db.session.scalar(select(PromotionCode.times_redeemed)) == 1
        assert db.session.scalar(select(func.count()).select_from(Discount)) == 1
        assert db.session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_admin_validation_and_role(client, admin, make_user):
    both = client.post("/v1/admin/coupons", json={"name": "x", "percent_off": 10, "amount_off_cents": 100,
                                                  "currency": "USD", "duration": "once"}, headers=admin)
    assert both.status_code == 422 and "percent_off" in both.json["errors"]["json"]
    no_periods = client.post("/v1/admin/coupons", json={"name": "x", "percent_off": 10, "duration": "repeating"},
                             headers=admin)
    assert no_periods.status_code == 422 and "duration_in_periods" in no_periods.json["errors"]["json"]
    too_much = client.post("/v1/admin/coupons", json={"name": "x", "percent_off": 101, "duration": "once"},
                           headers=admin)
    assert too_much.status_code == 422 and "percent_off" in too_much.json["errors"]["json"]
    unknown_plan = client.post("/v1/admin/coupons", json={"name": "x", "percent_off": 5, "duration": "once",
                                                          "applies_to_plan_ids": [str(uuid.uuid4())]}, headers=admin)
    assert unknown_plan.status_code == 422 and "applies_to_plan_ids" in unknown_plan.json["errors"]["json"]
    make_code(client, admin, "Summer")
    coupon_id = client.get("/v1/admin/coupons", headers=admin).json[0]["id"]
    dup = client.post("/v1/admin/promotion-codes", json={"code": "SUMMER", "coupon_id": coupon_id}, headers=admin)
    assert dup.status_code == 422 and "code" in dup.json["errors"]["json"]
    _, user_h = make_user()
    assert client.get("/v1/admin/coupons", headers=user_h).status_code == 403
    assert client.get("/v1/admin/promotion-codes", headers=admin).json[0]["code"] == "Summer"
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 1


def test_a_code_added_later_discounts_the_next_renewal(client, admin, make_user):
    make_code(client, admin, "LOYAL", coupon={"name": "Loyal 15 %", "percent_off": 15, "duration": "forever"})
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    other_user_h = make_user()[1]
    assert client.post(f"/v1/subscriptions/{sub['id']}/discount", json={"promotion_code": "LOYAL"},
                       headers=other_user_h).status_code == 404
    r = client.post(f"/v1/subscriptions/{sub['id']}/discount", json={"promotion_code": "loyal"}, headers=h)
    assert r.status_code == 201, r.json
    assert r.json["coupon"]["percent_off"] == 15 and r.json["periods_left"] is None
    again = client.post(f"/v1/subscriptions/{sub['id']}/discount", json={"promotion_code": "LOYAL"}, headers=h)
    assert again.status_code == 409
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    renewal = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["latest_invoice"]
    assert lines(renewal) == [("plan", 2900), ("discount", -435)] and renewal["amount_due_cents"] == 2465
