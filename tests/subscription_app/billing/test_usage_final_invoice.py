"""The last period's usage of a subscription that ends is billed (issue #17): canceled at period end
(invoiced when the period ends, as Stripe does for metered prices) or canceled now (invoiced at once)."""
from datetime import datetime

import pytest

from tests.support.billing_support import (BASIC_MONTHLY_ID, PRO_TRIAL_ID, advance, advance_to, charge_requests,
                                           pay, refund_requests, run_cycle, subscribe_and_pay)
from tests.support.usage_support import use

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def _invoices(client, h):
    return client.get("/v1/invoices", headers=h).json["items"]


def _final(client, h):
    finals = [i for i in _invoices(client, h) if i["reason"] == "subscription_final"]
    assert len(finals) == 1, finals
    return client.get(f"/v1/invoices/{finals[0]['id']}", headers=h).json


def _cancel(client, h, sub, at_period_end=False):
    r = client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end={'true' if at_period_end else 'false'}",
                      headers=h)
    assert r.status_code == 200, r.json
    return r.json


def test_cancel_at_period_end_bills_the_last_period_usage_when_it_ends(app, client, basic_soft, make_user,
                                                                       payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    assert use(client, h, "api_calls", 1500).status_code == 200
    _cancel(client, h, sub, at_period_end=True)
    assert [i["reason"] for i in _invoices(client, h)] == ["subscription_create"]  # nothing billed before the end
    advance_to(app, sub["current_period_end"])
    assert run_cycle()["renewed_or_ended"] == 1
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["status"] == "canceled"
    final = _final(client, h)
    assert [line["kind"] for line in final["lines"]] == ["usage"]  # no plan line: no next period
    line = final["lines"][0]
    assert (line["feature"], line["quantity"], line["included"], line["billable"], line["amount_cents"]) == (
        "api_calls", 1500, 1000, 500, 1000)
    assert (line["period_start"], line["period_end"]) == (sub["current_period_start"], sub["current_period_end"])
    assert (final["amount_due_cents"], final["currency"], final["status"]) == (1000, "USD", "open")
    charge = charge_requests(app)[-1]["data"]
    assert (charge["invoice_id"], charge["amount_cents"]) == (final["id"], 1000)
    assert pay(client, final, user.id).status_code == 200
    assert client.get(f"/v1/invoices/{final['id']}", headers=h).json["status"] == "paid"
    assert refund_requests(app) == []  # paying the final invoice of an ended subscription is wanted
    assert run_cycle()["renewed_or_ended"] == 0 and len(_invoices(client, h)) == 2  # billed once


def test_cancel_now_bills_the_usage_so_far_at_once(app, client, basic_soft, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    assert use(client, h, "api_calls", 1200).status_code == 200
    advance(app, 3 * 86400)
    canceled = _cancel(client, h, sub)
    assert canceled["status"] == "canceled"
    final = _final(client, h)
    line = final["lines"][0]
    assert (line["quantity"], line["billable"], line["amount_cents"]) == (1200, 200, 400)
    assert line["period_start"] == sub["current_period_start"]
    assert datetime.fromisoformat(line["period_end"]) == datetime.fromisoformat(canceled["ended_at"])
    assert (final["amount_due_cents"], final["status"]) == (400, "open")
    assert charge_requests(app)[-1]["data"]["amount_cents"] == 400
    assert use(client, h, "api_calls", 1).status_code == 403  # nothing counts after the end
    assert pay(client, final, user.id).status_code == 200 and refund_requests(app) == []


def test_cancel_with_usage_under_included_is_a_zero_final_invoice(app, client, basic_soft, make_user,
                                                                  payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    charges = len(charge_requests(app))
    use(client, h, "api_calls", 10)
    _cancel(client, h, sub)
    final = _final(client, h)
    assert (final["lines"][0]["quantity"], final["amount_due_cents"], final["status"]) == (10, 0, "paid")
    assert len(charge_requests(app)) == charges  # nothing to collect


def test_no_final_invoice_without_metered_prices_or_in_a_trial(app, client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)  # Basic without usage_pricing
    use(client, h, "api_calls", 5)
    _cancel(client, h, sub)
    assert [i["reason"] for i in _invoices(client, h)] == ["subscription_create"]
    trial_user, th = make_user()
    trial = client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID)}, headers=th).json
    assert trial["status"] == "trialing", trial
    _cancel(client, th, trial)
    assert [i["reason"] for i in _invoices(client, th)] == []  # a trial's usage is free


def test_upcoming_invoice_of_a_canceling_subscription_is_its_final_usage(client, basic_soft, make_user,
                                                                        payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    assert client.get("/v1/invoices/upcoming", headers=h).json["reason"] == "subscription_cycle"
    use(client, h, "api_calls", 1500)
    _cancel(client, h, sub, at_period_end=True)
    upcoming = client.get("/v1/invoices/upcoming", headers=h).json
    assert upcoming["reason"] == "subscription_final" and [line["kind"] for line in upcoming["lines"]] == ["usage"]
    assert (upcoming["period_start"], upcoming["period_end"]) == (sub["current_period_start"],
                                                                  sub["current_period_end"])
    assert (upcoming["lines"][0]["amount_cents"], upcoming["amount_due_cents"]) == (1000, 1000)
