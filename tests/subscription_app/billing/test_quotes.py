"""Binding proration quotes: preview changes nothing, PUT with the quote bills exactly it (docs/lifecycle.md)."""
from datetime import timedelta

import pytest
import time_machine

from core import clock
from tests.support.billing_support import (BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID, add_plan, advance, charge_requests,
                                           set_period, subscribe_and_pay)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
DAY = 86400

# The table published in docs/lifecycle.md: Pro (2900/month) -> target, 30-day period, `elapsed` seconds in.
VECTORS = [
    # target, elapsed s, proration, lines (kind, cents), due now, next renewal
    ("enterprise", 15 * DAY, "create_prorations", [("proration_credit", -1450), ("proration_charge", 4950)], 3500, 9900),
    ("enterprise", 10 * DAY, "create_prorations", [("proration_credit", -1934), ("proration_charge", 6600)], 4666, 9900),
    ("enterprise", 1, "create_prorations", [("proration_credit", -2900), ("proration_charge", 9899)], 6999, 9900),
    ("enterprise", 15 * DAY, "none", [], 0, 9900),
    ("basic", 15 * DAY, "create_prorations", [], 0, 900),
    ("yearly_29000", 15 * DAY, "create_prorations", [("proration_credit", -1450), ("plan", 29000)], 27550, 29000),
]


def _plan(app, name):
    return {"enterprise": ENTERPRISE_MONTHLY_ID, "basic": BASIC_MONTHLY_ID}.get(name) or add_plan(app, 29000)


def _sub_in_period(client, h, user, elapsed):
    sub = subscribe_and_pay(client, h, user.id)
    now = clock.utcnow().replace(microsecond=0)
    set_period(client.application, sub["id"], now - timedelta(seconds=elapsed),
               now - timedelta(seconds=elapsed) + timedelta(days=30))
    return client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json


def _preview(client, h, sub, plan_id, proration="create_prorations"):
    return client.post(f"/v1/subscriptions/{sub['id']}/plan/preview",
                       json={"plan_id": str(plan_id), "proration": proration}, headers=h)


@pytest.mark.parametrize("target, elapsed, proration, lines, due, renewal", VECTORS)
def test_quote_vectors_and_the_put_bills_exactly_them(client, seeded, make_user, payment_stub,
                                                      target, elapsed, proration, lines, due, renewal):
    user, h = make_user()
    plan_id = _plan(client.application, target)
    with time_machine.travel(clock.utcnow().replace(microsecond=0), tick=False):  # whole seconds, exact cents
        sub = _sub_in_period(client, h, user, elapsed)
        r = _preview(client, h, sub, plan_id, proration)
    assert r.status_code == 200, r.json
    q = r.json
    assert [(line["kind"], line["amount_cents"]) for line in q["lines"]] == lines
    assert (q["amount_due_now_cents"], q["next_renewal_amount_cents"]) == (due, renewal)
    assert (q["seconds_in_period"], q["seconds_remaining"]) == (30 * DAY, 30 * DAY - elapsed)
    assert q["old_price_cents"] == 2900 and q["rounding"] and q["currency"] == "USD"
    unchanged = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert unchanged == sub  # the preview changed nothing
    advance(client.application, 60)  # a minute later the quote still binds
    before = len(charge_requests(client.application))
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(plan_id), "quote_id": q["quote_id"]},
                   headers=h)
    assert r.status_code == 200, r.json
    charged = charge_requests(client.application)[before:]
    if due:
        assert r.json["latest_invoice"]["amount_due_cents"] == due
        assert [(line["kind"], line["amount_cents"]) for line in r.json["latest_invoice"]["lines"]] == lines
        assert [c["data"]["amount_cents"] for c in charged] == [due]
    else:
        assert charged == [] and r.json["pending_plan_id"] == str(plan_id)


def test_expired_used_or_outdated_quotes_are_409(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _sub_in_period(client, h, user, 15 * DAY)
    put = lambda q: client.put(f"/v1/subscriptions/{sub['id']}/plan",  # noqa: E731
                               json={"plan_id": str(ENTERPRISE_MONTHLY_ID), "quote_id": q}, headers=h)
    expired = _preview(client, h, sub, ENTERPRISE_MONTHLY_ID).json["quote_id"]
    advance(client.application, 15 * 60 + 1)
    r = put(expired)
    assert r.status_code == 409 and "expired" in r.json["message"]
    outdated = _preview(client, h, sub, ENTERPRISE_MONTHLY_ID).json["quote_id"]
    client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h)  # the subscription changes
    r = put(outdated)
    assert r.status_code == 409 and "changed since" in r.json["message"]
    client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    fresh = _preview(client, h, sub, ENTERPRISE_MONTHLY_ID).json["quote_id"]
    assert put(fresh).status_code == 200
    assert put(fresh).status_code == 409  # used (and an upgrade now awaits payment)


def test_quote_for_another_plan_or_subscription_is_422(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _sub_in_period(client, h, user, 15 * DAY)
    q = _preview(client, h, sub, ENTERPRISE_MONTHLY_ID).json["quote_id"]
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(BASIC_MONTHLY_ID), "quote_id": q},
                   headers=h)
    assert r.status_code == 422 and "quote_id" in r.json["errors"]["json"]
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["pending_plan_id"] is None
    r = _preview(client, h, sub, ENTERPRISE_MONTHLY_ID, proration="sometimes")
    assert r.status_code == 422 and "proration" in r.json["errors"]["json"]
    _, other = make_user()
    assert _preview(client, other, sub, ENTERPRISE_MONTHLY_ID).status_code == 404
