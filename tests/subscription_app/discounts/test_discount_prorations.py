"""A discounted subscription changes plan: the quote and the change invoice carry the discount (docs/discounts.md).

Every row is the table "Discounts on plan changes" of docs/discounts.md: Pro (2900/month) on a
30-day period, `elapsed` seconds in, with a coupon redeemed at subscribe; the preview's lines,
the amount due now and the next renewal, then PUT .../plan with the quote and without it, both
billing exactly the quoted cents.
"""
import uuid
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app.discounts.models import Discount
from subscription_app.models import Invoice, Subscription
from tests.support.billing_support import (ENTERPRISE_MONTHLY_ID, GOOD_CARD, PRO_MONTHLY_ID, add_plan, charge_requests,
                                           pay)
from tests.support.discounts import give

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
DAY = 86400
PCT20 = {"name": "20 %", "percent_off": 20}
OFF500 = {"name": "5 off", "amount_off_cents": 500, "currency": "USD"}

CHANGE_VECTORS = [
    # id, coupon, target, elapsed, lines (kind, cents), due now, next renewal, periods_left after paying
    ("forever 20 %", {**PCT20, "duration": "forever"}, "enterprise", 15 * DAY,
     [("proration_credit", -1450), ("proration_charge", 4950), ("discount", -700)], 2800, 7920, None),
    ("per-line rounding", {**PCT20, "duration": "forever"}, "enterprise", 10 * DAY,
     [("proration_credit", -1934), ("proration_charge", 6600), ("discount", -933)], 3733, 7920, None),
    ("once: first invoice only", {**PCT20, "duration": "once"}, "enterprise", 15 * DAY,
     [("proration_credit", -1450), ("proration_charge", 4950)], 3500, 9900, 0),
    ("repeating, periods left", {**PCT20, "duration": "repeating", "duration_in_periods": 3}, "enterprise",
     15 * DAY, [("proration_credit", -1450), ("proration_charge", 4950), ("discount", -700)], 2800, 7920, 2),
    ("repeating, its last period", {**PCT20, "duration": "repeating", "duration_in_periods": 1}, "enterprise",
     15 * DAY, [("proration_credit", -1450), ("proration_charge", 4950), ("discount", -700)], 2800, 9900, 0),
    ("amount off once per invoice", {**OFF500, "duration": "forever"}, "enterprise", 15 * DAY,
     [("proration_credit", -1450), ("proration_charge", 4950), ("discount", -500)], 3000, 9400, None),
    ("interval change uses a period", {**PCT20, "duration": "repeating", "duration_in_periods": 3}, "yearly",
     15 * DAY, [("proration_credit", -1450), ("plan", 29000), ("discount", -5510)], 22040, 23200, 1),
    ("interval change, last period", {**PCT20, "duration": "repeating", "duration_in_periods": 2}, "yearly",
     15 * DAY, [("proration_credit", -1450), ("plan", 29000), ("discount", -5510)], 22040, 29000, 0),
    ("interval change, none left", {**PCT20, "duration": "repeating", "duration_in_periods": 1}, "yearly",
     15 * DAY, [("proration_credit", -1450), ("plan", 29000)], 27550, 29000, 0),
]


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")[1]


def discounted_sub(client, admin, h, user_id, coupon, elapsed):
    """Pro with `coupon` redeemed at subscribe, paid, on a 30-day period `elapsed` seconds in."""
    code = f"C{uuid.uuid4().hex[:10]}"
    coupon_id = client.post("/v1/admin/coupons", json=coupon, headers=admin).json["id"]
    assert client.post("/v1/admin/promotion-codes", json={"code": code, "coupon_id": coupon_id},
                       headers=admin).status_code == 201
    r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD,
                                               "promotion_code": code}, headers=h)
    assert r.status_code == 201, r.json
    assert pay(client, r.json["latest_invoice"], user_id).json["processed"] is True
    now = clock.utcnow().replace(microsecond=0)
    start = now - timedelta(seconds=elapsed)
    with client.application.app_context():  # the period and the plan invoice that billed it move together
        sub = db.session.get(Subscription, uuid.UUID(r.json["id"]))
        sub.current_period_start, sub.current_period_end = start, start + timedelta(days=30)
        invoice = db.session.get(Invoice, uuid.UUID(r.json["latest_invoice"]["id"]))
        invoice.period_start, invoice.period_end = start, start + timedelta(days=30)
        db.session.commit()
    return client.get(f"/v1/subscriptions/{r.json['id']}", headers=h).json


def kinds(lines):
    return [(line["kind"], line["amount_cents"]) for line in lines]


def periods_left(app, sub_id):
    with app.app_context():
        return db.session.scalar(select(Discount.periods_left).where(Discount.subscription_id == uuid.UUID(sub_id)))


@pytest.mark.parametrize("quoted", [True, False], ids=["with-quote", "without-quote"])
@pytest.mark.parametrize("case, coupon, target, elapsed, lines, due, renewal, left", CHANGE_VECTORS,
                         ids=[v[0] for v in CHANGE_VECTORS])
def test_change_of_a_discounted_subscription(client, admin, make_user, payment_stub, quoted,
                                             case, coupon, target, elapsed, lines, due, renewal, left):
    user, h = make_user()
    plan_id = ENTERPRISE_MONTHLY_ID if target == "enterprise" else add_plan(client.application, 29000)
    with time_machine.travel(clock.utcnow().replace(microsecond=0), tick=False):  # whole seconds, exact cents
        sub = discounted_sub(client, admin, h, user.id, coupon, elapsed)
        q = client.post(f"/v1/subscriptions/{sub['id']}/plan/preview", json={"plan_id": str(plan_id)}, headers=h)
        assert q.status_code == 200, q.json
        assert kinds(q.json["lines"]) == lines
        assert (q.json["amount_due_now_cents"], q.json["next_renewal_amount_cents"]) == (due, renewal)
        assert ("discount:" in q.json["rounding"]) == any(kind == "discount" for kind, _ in lines)
        body = {"plan_id": str(plan_id), **({"quote_id": q.json["quote_id"]} if quoted else {})}
        before = len(charge_requests(client.application))
        r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json=body, headers=h)
    assert r.status_code == 200, r.json
    invoice = r.json["latest_invoice"]
    assert kinds(invoice["lines"]) == lines and invoice["amount_due_cents"] == due
    assert [c["data"]["amount_cents"] for c in charge_requests(client.application)[before:]] == [due]
    assert pay(client, invoice, user.id).json["processed"] is True
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["plan_id"] == str(plan_id)
    assert periods_left(client.application, sub["id"]) == left


def test_an_unpaid_interval_change_has_not_used_the_discount_period(client, admin, make_user, payment_stub):
    """The period is used when the change is paid, so a change that lapses unpaid leaves the discount as it was."""
    user, h = make_user()
    yearly = add_plan(client.application, 29000)
    sub = discounted_sub(client, admin, h, user.id, {**PCT20, "duration": "repeating", "duration_in_periods": 3},
                         15 * DAY)
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(yearly)}, headers=h)
    assert r.json["latest_invoice"]["status"] == "open"
    assert any(line["kind"] == "discount" for line in r.json["latest_invoice"]["lines"])
    assert periods_left(client.application, sub["id"]) == 2


def test_a_net_credit_is_discounted_too_and_the_rest_goes_to_the_balance(client, admin, make_user, payment_stub):
    """Yearly (29000) -> Pro monthly early in the year: 20 % off each line, the credit included."""
    user, h = make_user()
    yearly = add_plan(client.application, 29000)
    code = "YEARLY20"
    coupon_id = client.post("/v1/admin/coupons", json={**PCT20, "duration": "forever"}, headers=admin).json["id"]
    client.post("/v1/admin/promotion-codes", json={"code": code, "coupon_id": coupon_id}, headers=admin)
    with time_machine.travel(clock.utcnow().replace(microsecond=0), tick=False):
        r = client.post("/v1/subscriptions", json={"plan_id": str(yearly), "card": GOOD_CARD,
                                                   "promotion_code": code}, headers=h)
        assert kinds(r.json["latest_invoice"]["lines"]) == [("plan", 29000), ("discount", -5800)]
        pay(client, r.json["latest_invoice"], user.id)
        now = clock.utcnow()
        with client.application.app_context():
            sub = db.session.get(Subscription, uuid.UUID(r.json["id"]))
            sub.current_period_start, sub.current_period_end = now - timedelta(days=65), now + timedelta(days=300)
            invoice = db.session.get(Invoice, uuid.UUID(r.json["latest_invoice"]["id"]))
            invoice.period_start = sub.current_period_start
            db.session.commit()
        q = client.post(f"/v1/subscriptions/{r.json['id']}/plan/preview", json={"plan_id": str(PRO_MONTHLY_ID)},
                        headers=h).json
    # credit -ceil(29000 * 300 / 365) = -23836 (+4767 of it was the discount); Pro 2900 (-580)
    assert kinds(q["lines"]) == [("proration_credit", -23836), ("plan", 2900), ("discount", 4187),
                                 ("credit_to_balance", 16749)]
    assert q["amount_due_now_cents"] == 0 and q["next_renewal_amount_cents"] == 2320


def test_held_credit_is_spent_after_the_discount(client, admin, make_user, payment_stub):
    """docs/plan-changes.md: proration, then the discount, then the customer's held credit."""
    user, h = make_user()
    with time_machine.travel(clock.utcnow().replace(microsecond=0), tick=False):
        sub = discounted_sub(client, admin, h, user.id, {**PCT20, "duration": "forever"}, 15 * DAY)
        give(client.application, user.id, 1000)
        q = client.post(f"/v1/subscriptions/{sub['id']}/plan/preview",
                        json={"plan_id": str(ENTERPRISE_MONTHLY_ID)}, headers=h).json
        assert (q["amount_due_now_cents"], q["applied_balance_cents"]) == (2800, 1000)
        r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(ENTERPRISE_MONTHLY_ID)},
                       headers=h)
    assert kinds(r.json["latest_invoice"]["lines"]) == [("proration_credit", -1450), ("proration_charge", 4950),
                                                        ("discount", -700), ("applied_balance", -1000)]
    assert r.json["latest_invoice"]["amount_due_cents"] == 1800


def test_the_period_an_interval_change_started_counts_as_discounted(client, admin, make_user, payment_stub):
    """Repeating 2: the interval change uses the last period; an upgrade within that new year is discounted too."""
    user, h = make_user()
    yearly, bigger = add_plan(client.application, 29000), add_plan(client.application, 49000)
    with time_machine.travel(clock.utcnow().replace(microsecond=0), tick=False):
        sub = discounted_sub(client, admin, h, user.id, {**PCT20, "duration": "repeating", "duration_in_periods": 2},
                             15 * DAY)
        r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(yearly)}, headers=h)
        assert r.json["latest_invoice"]["amount_due_cents"] == 22040
        pay(client, r.json["latest_invoice"], user.id)
        assert periods_left(client.application, sub["id"]) == 0
        year = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
        start = datetime.fromisoformat(year["current_period_start"])
        period = int((datetime.fromisoformat(year["current_period_end"]) - start).total_seconds())
        assert clock.utcnow() - start < timedelta(seconds=1)  # the new year started at the payment
        q = client.post(f"/v1/subscriptions/{sub['id']}/plan/preview", json={"plan_id": str(bigger)},
                        headers=h).json
    # Nothing elapsed: credit -29000 (+5800), charge 49000 (-9800) -> 20000 less 4000.
    assert (q["seconds_remaining"], q["seconds_in_period"]) == (period, period)
    assert kinds(q["lines"]) == [("proration_credit", -29000), ("proration_charge", 49000), ("discount", -4000)]
    assert q["amount_due_now_cents"] == 16000 and q["next_renewal_amount_cents"] == 49000
