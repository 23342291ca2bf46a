"""The upcoming invoice is the renewal's invoice before it exists: computed, renewed, compared line by line.

Each test reads GET /v1/invoices/upcoming (and the admin equivalent), moves the clock past the
period end, runs the bill run and compares the renewal invoice with it: every line (kind, cents,
plan, period, usage quantity, description), the period and the amount due (docs/usage-billing.md).
"""
import uuid

import pytest
from sqlalchemy import select

from core.extensions import db
from subscription_app.discounts.models import Discount
from tests.support.billing_support import (BASIC_MONTHLY_ID, GOOD_CARD, PRO_MONTHLY_ID, PRO_TRIAL_ID, add_plan,
                                           advance_to, pay, run_cycle, subscribe_and_pay)
from tests.support.discounts import give, make_code
from tests.support.usage_support import use

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
LINE_FIELDS = ("kind", "amount_cents", "currency", "plan_id", "period_start", "period_end", "feature", "quantity",
               "included", "billable", "description")


@pytest.fixture
def admin(basic_soft):
    return basic_soft


def same_fields(lines):
    return [{f: line.get(f) for f in LINE_FIELDS} for line in lines]


def renew_and_compare(client, h, user_id, admin, sub_id) -> tuple[dict, dict]:
    """(upcoming, renewal invoice), after checking that they agree line by line."""
    upcoming = client.get("/v1/invoices/upcoming", headers=h)
    assert upcoming.status_code == 200, upcoming.json
    upcoming = upcoming.json
    seen_by_admin = client.get(f"/v1/admin/users/{user_id}/upcoming-invoice", headers=admin).json
    assert {**seen_by_admin, "usage_as_of": None} == {**upcoming, "usage_as_of": None}
    sub = client.get(f"/v1/subscriptions/{sub_id}", headers=h).json
    advance_to(client.application, sub["current_period_end"])
    assert run_cycle()["renewed_or_ended"] == 1
    invoice = client.get(f"/v1/subscriptions/{sub_id}", headers=h).json["latest_invoice"]
    assert same_fields(invoice["lines"]) == same_fields(upcoming["lines"])
    assert (invoice["period_start"], invoice["period_end"]) == (upcoming["period_start"], upcoming["period_end"])
    assert invoice["amount_due_cents"] == upcoming["amount_due_cents"]
    return upcoming, invoice


def kinds(lines):
    return [(line["kind"], line["amount_cents"]) for line in lines]


def test_discount_credit_and_usage_overage_as_the_renewal_bills_them(client, admin, make_user, payment_stub):
    make_code(client, admin, "BASIC20", coupon={"name": "20 %", "percent_off": 20, "duration": "repeating",
                                                "duration_in_periods": 2})
    user, h = make_user()
    r = client.post("/v1/subscriptions", json={"plan_id": str(BASIC_MONTHLY_ID), "card": GOOD_CARD,
                                               "promotion_code": "BASIC20"}, headers=h)
    assert kinds(r.json["latest_invoice"]["lines"]) == [("plan", 900), ("discount", -180)]
    pay(client, r.json["latest_invoice"], user.id)
    give(client.application, user.id, 500)
    assert use(client, h, "api_calls", 1500).status_code == 200
    upcoming, invoice = renew_and_compare(client, h, user.id, admin, r.json["id"])
    assert kinds(upcoming["lines"]) == [("plan", 900), ("discount", -180), ("usage", 1000),
                                        ("applied_balance", -500)]
    assert (upcoming["subtotal_cents"], upcoming["discount_cents"], upcoming["total_cents"]) == (1900, 180, 1720)
    assert (upcoming["credit_balance_cents"], upcoming["applied_balance_cents"]) == (500, 500)
    assert upcoming["amount_due_cents"] == invoice["amount_due_cents"] == 1220
    with client.application.app_context():  # the renewal used the last period; looking used none
        assert db.session.scalar(select(Discount.periods_left).where(
            Discount.subscription_id == uuid.UUID(r.json["id"]))) == 0
    pay(client, invoice, user.id)
    upcoming, _ = renew_and_compare(client, h, user.id, admin, r.json["id"])  # the discount is over
    assert kinds(upcoming["lines"]) == [("plan", 900), ("usage", 0)] and upcoming["amount_due_cents"] == 900


def test_credit_larger_than_the_total_pays_it_all(client, admin, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    give(client.application, user.id, 5000)
    upcoming, invoice = renew_and_compare(client, h, user.id, admin, sub["id"])
    assert kinds(upcoming["lines"]) == [("plan", 900), ("usage", 0), ("applied_balance", -900)]
    assert (upcoming["credit_balance_cents"], upcoming["amount_due_cents"]) == (5000, 0)
    assert invoice["status"] == "paid"


def test_a_migrated_price_shows_as_the_renewal_will_bill_it(client, admin, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=PRO_MONTHLY_ID)
    assert client.post(f"/v1/admin/plans/{PRO_MONTHLY_ID}/prices", json={"price_cents": 3400},
                       headers=admin).status_code == 201
    assert client.get("/v1/invoices/upcoming", headers=h).json["amount_due_cents"] == 2900  # its own version
    assert client.post(f"/v1/admin/plans/{PRO_MONTHLY_ID}/migrate", json={"subscription_id": sub["id"]},
                       headers=admin).status_code == 200
    upcoming, _ = renew_and_compare(client, h, user.id, admin, sub["id"])
    assert kinds(upcoming["lines"]) == [("plan", 3400)]


def test_a_scheduled_change_to_another_interval(client, admin, make_user, payment_stub):
    user, h = make_user()
    yearly = add_plan(client.application, 29000)
    sub = subscribe_and_pay(client, h, user.id, plan_id=PRO_MONTHLY_ID)
    q = client.post(f"/v1/subscriptions/{sub['id']}/plan/preview",
                    json={"plan_id": str(yearly), "proration": "none"}, headers=h).json
    assert client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(yearly), "quote_id": q["quote_id"]},
                      headers=h).json["pending_plan_id"] == str(yearly)
    upcoming, _ = renew_and_compare(client, h, user.id, admin, sub["id"])
    assert kinds(upcoming["lines"]) == [("plan", 29000)]


def test_a_trial_converts_with_the_discount_redeemed_during_it(client, admin, make_user, payment_stub):
    make_code(client, admin, "TRIAL15", coupon={"name": "15 %", "percent_off": 15, "duration": "once"})
    user, h = make_user()
    trial = client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID), "card": GOOD_CARD},
                        headers=h)
    assert trial.status_code == 201, trial.json
    assert client.post(f"/v1/subscriptions/{trial.json['id']}/discount", json={"promotion_code": "TRIAL15"},
                       headers=h).status_code == 201
    upcoming, invoice = renew_and_compare(client, h, user.id, admin, trial.json["id"])
    assert kinds(upcoming["lines"]) == [("plan", 2900), ("discount", -435)] and invoice["amount_due_cents"] == 2465
