"""Pause and resume: no charges and no usage while paused; the period moves by the paused time."""
from datetime import timedelta

import pytest

from core import clock
from tests.support.billing_support import (advance, advance_to, charge_requests, run_cycle, set_period,
                                           subscribe_and_pay, when)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
DAY = 86400


def _paid_30_day_period(client, h, user):
    """An active Pro (2900) subscription 5 days into a 30-day period."""
    sub = subscribe_and_pay(client, h, user.id)
    now = clock.utcnow().replace(microsecond=0)
    set_period(client.application, sub["id"], now - timedelta(days=5), now + timedelta(days=25))
    return client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json


def _pause(client, h, sub, **body):
    return client.post(f"/v1/subscriptions/{sub['id']}/pause", json=body, headers=h)


def test_pause_now_then_resume_moves_the_period_by_the_paused_time(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _paid_30_day_period(client, h, user)
    charges = len(charge_requests(client.application))
    r = _pause(client, h, sub)
    assert r.status_code == 200, r.json
    assert r.json["status"] == "paused" and r.json["paused_at"]
    # Paused: still the live subscription, but no usage.
    used = client.post("/v1/usage/features/api_calls/use", json={"delta": 1}, headers=h)
    assert used.status_code == 403 and "paused" in used.json["message"]
    assert client.post("/v1/subscriptions", json={"plan_id": sub["plan_id"]}, headers=h).status_code == 409
    # Past the old period end: no renewal, no dunning, no charge.
    advance(client.application, 40 * DAY)
    assert run_cycle()["renewed_or_ended"] == 0
    assert len(charge_requests(client.application)) == charges
    r = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    assert r.status_code == 200 and r.json["status"] == "active" and r.json["paused_at"] is None
    paused = when(r.json["current_period_end"]) - when(sub["current_period_end"])
    assert abs(paused.total_seconds() - 40 * DAY) < 5  # the 25 paid days left are kept
    assert when(r.json["billing_cycle_anchor"]) - when(sub["billing_cycle_anchor"]) == paused
    assert r.json["latest_invoice"]["reason"] == "subscription_create"  # 0 cents charged at resume
    assert client.post("/v1/usage/features/api_calls/use", json={"delta": 1}, headers=h).status_code == 200
    # The next renewal charges the full 2900 on the moved date.
    advance_to(client.application, r.json["current_period_end"])
    assert run_cycle()["renewed_or_ended"] == 1
    [renewal] = charge_requests(client.application)[charges:]
    assert renewal["data"]["amount_cents"] == 2900
    types = [e["type"] for e in client.get(f"/v1/subscriptions/{sub['id']}/history", headers=h).json["items"]]
    assert types == ["paused", "resumed"]


def test_pause_with_resume_at_resumes_at_that_moment(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _paid_30_day_period(client, h, user)
    resume_at = (clock.utcnow() + timedelta(days=7)).replace(microsecond=0)
    r = _pause(client, h, sub, resume_at=resume_at.isoformat())
    assert r.status_code == 200 and when(r.json["resume_at"]) == resume_at
    paused_at = when(r.json["paused_at"])
    advance(client.application, 9 * DAY)  # the bill run comes two days late
    assert run_cycle()["resumed"] == 1
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["status"] == "active"
    assert when(after["current_period_end"]) == when(sub["current_period_end"]) + (resume_at - paused_at)


def test_pause_at_period_end_charges_nothing_then_resume_bills_a_new_period(client, seeded, make_user,
                                                                            payment_stub):
    user, h = make_user()
    sub = _paid_30_day_period(client, h, user)
    r = _pause(client, h, sub, at="period_end")
    assert r.status_code == 200 and r.json["status"] == "active" and r.json["pause_at_period_end"] is True
    charges = len(charge_requests(client.application))
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    paused = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert paused["status"] == "paused" and paused["paused_at"] == sub["current_period_end"]
    assert len(charge_requests(client.application)) == charges
    advance(client.application, 10 * DAY)
    r = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    assert r.status_code == 200 and r.json["status"] == "active"
    assert r.json["latest_invoice"]["reason"] == "subscription_cycle"
    assert r.json["latest_invoice"]["amount_due_cents"] == 2900  # no paid time was left: a new period
    [charge] = charge_requests(client.application)[charges:]
    assert charge["data"]["amount_cents"] == 2900


def test_a_scheduled_pause_can_be_undone_before_the_period_end(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _paid_30_day_period(client, h, user)
    _pause(client, h, sub, at="period_end")
    r = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    assert r.status_code == 200 and r.json["pause_at_period_end"] is False


@pytest.mark.parametrize("body, field", [({"at": "later"}, "at"), ({"resume_at": "yesterday"}, "resume_at"),
                                         ({"resume_at": "2001-01-01T00:00:00Z"}, "resume_at"),
                                         ({"bogus": 1}, "bogus")])
def test_bad_pause_requests_are_422_naming_the_field(client, seeded, make_user, payment_stub, body, field):
    user, h = make_user()
    sub = _paid_30_day_period(client, h, user)
    r = _pause(client, h, sub, **body)
    assert r.status_code == 422 and field in r.json["errors"]["json"]
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["status"] == "active"


def test_pause_is_refused_when_not_active_or_already_scheduled(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _paid_30_day_period(client, h, user)
    assert _pause(client, h, sub).status_code == 200
    assert _pause(client, h, sub).status_code == 409  # already paused
    r = client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h)
    assert r.status_code == 409 and "resume it first" in r.json["message"]
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=h).json["status"] == "canceled"
    assert client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h).status_code == 409
