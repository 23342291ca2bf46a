"""Issue #16's "Done when", walked as a new user would after `make run`, through the HTTP API of both services.

The subscription service tokenises cards through the real payment service, charges go through
both outboxes and the mock gateway (whose yes/no is the only thing controlled, with the clock):
start a trial, switch plans during it, subscribe with a 20 % promotion code, preview an upgrade
and execute it with the quote, schedule a cancel and undo it, pause and resume, update the card
of a past-due subscription and see it paid. Exact cents at every calendar instant: the upgrade
is previewed at exactly half of the period, whatever the month's length.
"""
import time
from datetime import datetime, timedelta

import pytest
import time_machine

from core import clock
from subscription_app.seed import ENTERPRISE_MONTHLY_ID, PRO_MONTHLY_ID, PRO_TRIAL_ID
from tests.support.world import CARD

pytestmark = [pytest.mark.subscription, pytest.mark.payment, pytest.mark.calendar]
NEW_OPERATIONS = [("post", "/v1/subscriptions/{subscription_id}/plan/preview"),
                  ("post", "/v1/subscriptions/{subscription_id}/pause"),
                  ("post", "/v1/subscriptions/{subscription_id}/resume"),
                  ("put", "/v1/subscriptions/{subscription_id}/payment-method"),
                  ("post", "/v1/subscriptions/{subscription_id}/discount"),
                  ("post", "/v1/admin/coupons"), ("patch", "/v1/admin/coupons/{coupon_id}"),
                  ("post", "/v1/admin/promotion-codes"), ("patch", "/v1/admin/promotion-codes/{code_id}"),
                  ("delete", "/v1/admin/subscriptions/{subscription_id}/discount"),
                  ("get", "/v1/invoices/upcoming")]


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def kinds(invoice: dict) -> list[tuple[str, int]]:
    return [(line["kind"], line["amount_cents"]) for line in invoice["lines"]]


def test_the_issue_walk_through(world, app, client, make_user):
    ops = make_user("ops@example.com", role="admin")[1]
    h = world.user("walk@example.com")

    # Start a trial and switch plans during it: the trial goes on and converts to the chosen plan.
    trial = client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID), "card": CARD},
                        headers=h)
    assert trial.status_code == 201 and trial.json["status"] == "trialing", trial.json
    world.run()
    switched = client.put(f"/v1/subscriptions/{trial.json['id']}/plan", json={"plan_id": str(ENTERPRISE_MONTHLY_ID)},
                          headers=h)
    assert switched.status_code == 200, switched.json
    assert (switched.json["status"], switched.json["pending_plan_id"]) == ("trialing", str(ENTERPRISE_MONTHLY_ID))
    upcoming = client.get("/v1/invoices/upcoming", headers=h).json
    assert kinds(upcoming) == [("plan", 9900)] and upcoming["period_start"] == switched.json["trial_end"]
    assert client.delete(f"/v1/subscriptions/{trial.json['id']}", headers=h).json["status"] == "canceled"

    # Subscribe with a 20 % promotion code (20 % for three periods), paid through the payment service.
    coupon = client.post("/v1/admin/coupons", json={"name": "Welcome 20 %", "percent_off": 20,
                                                    "duration": "repeating", "duration_in_periods": 3}, headers=ops)
    assert client.post("/v1/admin/promotion-codes", json={"code": "WELCOME20", "coupon_id": coupon.json["id"]},
                       headers=ops).status_code == 201
    r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": CARD,
                                               "promotion_code": "welcome20"}, headers=h)
    assert r.status_code == 201, r.json
    assert kinds(r.json["latest_invoice"]) == [("plan", 2900), ("discount", -580)]
    world.run()
    sub = world.sub(h, r.json["id"])
    assert sub["status"] == "active" and sub["latest_invoice"]["amount_paid_cents"] == 2320
    assert (sub["discount"]["coupon"]["percent_off"], sub["discount"]["periods_left"]) == (20, 2)

    # Preview an upgrade at exactly half the period, and execute it with the quote.
    start, end = at(sub["current_period_start"]), at(sub["current_period_end"])
    half = (end - start) / 2
    with time_machine.travel(clock.utcnow() - timedelta(seconds=clock.get_offset()), tick=False):
        # The billing clock half a second before the middle (JWTs keep real time): int() then gives `half`.
        clock.set_offset((start + half - timedelta(seconds=0.5)).timestamp() - time.time())
        q = client.post(f"/v1/subscriptions/{sub['id']}/plan/preview", json={"plan_id": str(ENTERPRISE_MONTHLY_ID)},
                        headers=h)
        assert q.status_code == 200, q.json
        assert (q.json["seconds_remaining"], q.json["seconds_in_period"]) == (half.total_seconds(),
                                                                              2 * half.total_seconds())
        assert kinds(q.json) == [("proration_credit", -1450), ("proration_charge", 4950), ("discount", -700)]
        assert (q.json["amount_due_now_cents"], q.json["next_renewal_amount_cents"]) == (2800, 7920)
        done = client.put(f"/v1/subscriptions/{sub['id']}/plan",
                          json={"plan_id": str(ENTERPRISE_MONTHLY_ID), "quote_id": q.json["quote_id"]}, headers=h)
    assert done.status_code == 200 and done.json["latest_invoice"]["amount_due_cents"] == 2800, done.json
    world.run()
    sub = world.sub(h, sub["id"])
    assert sub["plan_id"] == str(ENTERPRISE_MONTHLY_ID) and sub["latest_invoice"]["status"] == "paid"
    assert sorted(g.amount_cents for g in world.gateway_requests("charge")) == [2320, 2800]

    # Schedule a cancel and undo it.
    assert client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true",
                         headers=h).json["cancel_at_period_end"] is True
    undone = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    assert undone.status_code == 200 and undone.json["cancel_at_period_end"] is False

    # Pause for two days and resume: the period end moves by exactly the paused time.
    assert client.post(f"/v1/subscriptions/{sub['id']}/pause", json={"at": "now"}, headers=h).json["status"] == "paused"
    paused = world.sub(h, sub["id"])
    clock.set_offset(clock.get_offset() + 2 * 86400)
    resumed = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h).json
    assert resumed["status"] == "active"
    moved = at(resumed["current_period_end"]) - at(paused["current_period_end"])
    assert abs(moved.total_seconds() - 2 * 86400) < 5

    # The renewal is declined: past due. The upcoming invoice said what it would bill.
    upcoming = client.get("/v1/invoices/upcoming", headers=h).json
    assert kinds(upcoming) == [("plan", 9900), ("discount", -1980)] and upcoming["amount_due_cents"] == 7920
    world.approve(False)
    clock.set_offset(clock.get_offset() + (at(resumed["current_period_end"]) - clock.utcnow()).total_seconds() + 1)
    world.billing_cycle()
    world.run()
    due = world.sub(h, sub["id"])
    assert due["status"] == "past_due" and kinds(due["latest_invoice"]) == kinds(upcoming)

    # Update the card of the past-due subscription: the open invoice is retried at once and paid.
    world.approve(True)
    card = client.put(f"/v1/subscriptions/{sub['id']}/payment-method", json={"card": CARD}, headers=h)
    assert card.status_code == 200, card.json
    world.run()
    paid = world.sub(h, sub["id"])
    assert paid["status"] == "active" and paid["latest_invoice"]["status"] == "paid"
    assert paid["latest_invoice"]["amount_paid_cents"] == 7920


def test_every_new_operation_is_documented_with_an_example(client):
    spec = client.get("/openapi.json").json
    for method, path in NEW_OPERATIONS:
        operation = spec["paths"][path][method]
        assert operation.get("summary") or operation.get("description"), (method, path)
        body = operation.get("requestBody")
        if body is not None:
            assert "example" in body["content"]["application/json"], (method, path)
