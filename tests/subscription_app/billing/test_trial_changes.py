"""Plan changes during a trial (every row of the table in docs/lifecycle.md) and the trial_will_end notice."""
import uuid

import pytest

from core.extensions import db
from subscription_app.models import Plan
from tests.support.billing_support import (BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID, GOOD_CARD, PRO_TRIAL_ID, advance_to,
                                           charge_requests, run_cycle, when)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def _trial(client, h, card=True):
    body = {"trial_plan_id": str(PRO_TRIAL_ID), **({"card": GOOD_CARD} if card else {})}
    return client.post("/v1/subscriptions/trial", json=body, headers=h).json


def _put(client, h, sub, plan_id, **extra):
    return client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(plan_id), **extra}, headers=h)


def _conversion_charge(client, sub):
    advance_to(client.application, sub["trial_end"])
    before = len(charge_requests(client.application))
    run_cycle()
    return [c["data"]["amount_cents"] for c in charge_requests(client.application)[before:]]


def _enterprise_trial_plan(app):
    plan_id = uuid.uuid4()
    with app.app_context():
        db.session.add(Plan(id=plan_id, code=f"ent_trial_{plan_id.hex[:6]}", name="Enterprise trial", price_cents=0,
                            currency="USD", trial_days=30, converts_to_plan_id=ENTERPRISE_MONTHLY_ID))
        db.session.commit()
    return plan_id


def test_to_another_trial_plan_the_trial_continues_without_a_second_one(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h)
    other = _enterprise_trial_plan(client.application)
    r = _put(client, h, sub, other)
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["plan_id"], r.json["trial_end"]) == ("trialing", str(other), sub["trial_end"])
    assert _conversion_charge(client, sub) == [9900]  # converts to the new trial's paid plan


def test_to_a_paid_plan_by_default_the_trial_runs_out_then_converts_to_it(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h)
    r = _put(client, h, sub, ENTERPRISE_MONTHLY_ID)
    assert r.status_code == 200 and r.json["status"] == "trialing" and r.json["plan_id"] == str(PRO_TRIAL_ID)
    assert r.json["pending_plan_id"] == str(ENTERPRISE_MONTHLY_ID) and r.json["latest_invoice"] is None
    assert _conversion_charge(client, sub) == [9900]
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["plan_id"] == str(ENTERPRISE_MONTHLY_ID) and after["pending_plan_id"] is None


def test_trial_end_now_charges_the_new_plan_at_once(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h)
    before = len(charge_requests(client.application))
    r = _put(client, h, sub, ENTERPRISE_MONTHLY_ID, trial_end="now")
    assert r.status_code == 200, r.json
    assert r.json["latest_invoice"]["reason"] == "trial_conversion"
    assert r.json["latest_invoice"]["amount_due_cents"] == 9900 and r.json["plan_id"] == str(ENTERPRISE_MONTHLY_ID)
    assert when(r.json["trial_end"]) < when(sub["trial_end"])
    assert [c["data"]["amount_cents"] for c in charge_requests(client.application)[before:]] == [9900]
    [event] = client.get(f"/v1/subscriptions/{sub['id']}/history", headers=h).json["items"]
    assert event["details"]["rule"] == "trial_ended_now" and event["details"]["charged_cents"] == 9900


def test_a_downgrade_during_trial_applies_at_once_with_nothing_charged(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h)
    before = len(charge_requests(client.application))
    r = _put(client, h, sub, BASIC_MONTHLY_ID)
    assert r.status_code == 200 and r.json["plan_id"] == str(BASIC_MONTHLY_ID) and r.json["status"] == "trialing"
    assert charge_requests(client.application)[before:] == []
    assert _conversion_charge(client, sub) == [900]


def test_bad_trial_changes_are_4xx_and_change_nothing(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h, card=False)
    r = _put(client, h, sub, ENTERPRISE_MONTHLY_ID, trial_end="now")
    assert r.status_code == 422 and "trial_end" in r.json["errors"]["json"]  # no card to charge
    assert _put(client, h, sub, ENTERPRISE_MONTHLY_ID, trial_end="later").status_code == 422
    assert _put(client, h, sub, PRO_TRIAL_ID).status_code == 422
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert (after["plan_id"], after["pending_plan_id"]) == (str(PRO_TRIAL_ID), None)


def test_trial_will_end_is_written_once_three_days_before(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h)
    advance_to(client.application, sub["trial_end"], plus_seconds=-3 * 86400 - 60)
    assert run_cycle()["trial_will_end"] == 0
    advance_to(client.application, sub["trial_end"], plus_seconds=-3 * 86400 + 60)
    assert run_cycle()["trial_will_end"] == 1
    assert run_cycle()["trial_will_end"] == 0  # once only
    [event] = client.get(f"/v1/subscriptions/{sub['id']}/history", headers=h).json["items"]
    assert event["type"] == "trial_will_end" and event["details"] == {"trial_end": sub["trial_end"], "days_before": 3}
