"""Un-cancel: POST /v1/subscriptions/{id}/resume undoes a cancel scheduled for the period end."""
import pytest

from tests.support.billing_support import advance_to, run_cycle, subscribe_and_pay

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def _schedule_cancel(client, h, sub):
    r = client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h)
    assert r.status_code == 200 and r.json["cancel_at_period_end"] is True
    return r.json


def test_resume_undoes_a_scheduled_cancel_and_the_period_renews(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    _schedule_cancel(client, h, sub)
    r = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["cancel_at_period_end"], r.json["canceled_at"]) == ("active", False, None)
    history = client.get(f"/v1/subscriptions/{sub['id']}/history", headers=h).json["items"]
    assert [e["type"] for e in history] == ["cancel_undone"]
    assert history[0]["details"] == {"by": "customer", "current_period_end": sub["current_period_end"]}
    # The period end renews it (a 2900-cent charge) instead of ending it.
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["status"] == "active" and after["current_period_start"] == sub["current_period_end"]
    assert after["latest_invoice"]["reason"] == "subscription_cycle"
    assert after["latest_invoice"]["amount_due_cents"] == 2900


def test_resume_then_cancel_now_works(client, seeded, make_user, payment_stub):
    """The 409 on DELETE says 'resume it first': that path now exists."""
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    _schedule_cancel(client, h, sub)
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=h).status_code == 409
    assert client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h).status_code == 200
    r = client.delete(f"/v1/subscriptions/{sub['id']}", headers=h)
    assert r.status_code == 200 and r.json["status"] == "canceled"


def test_resume_after_the_period_ended_is_409(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    _schedule_cancel(client, h, sub)
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    r = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    assert r.status_code == 409 and "canceled" in r.json["message"]
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["status"] == "canceled"


def test_resume_after_the_period_end_before_the_bill_run_is_409(client, seeded, make_user, payment_stub):
    """The end is the period end itself, not the moment the bill run gets to it."""
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    _schedule_cancel(client, h, sub)
    advance_to(client.application, sub["current_period_end"])
    r = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    assert r.status_code == 409 and "ended" in r.json["message"]
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["cancel_at_period_end"] is True


def test_resume_with_nothing_to_resume_is_409(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    r = client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=h)
    assert r.status_code == 409 and r.json["message"].startswith("Nothing to resume")
    assert client.get(f"/v1/subscriptions/{sub['id']}/history", headers=h).json["items"] == []


def test_resume_of_another_users_subscription_is_404(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    _schedule_cancel(client, h, sub)
    _, other = make_user()
    assert client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=other).status_code == 404
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["cancel_at_period_end"] is True


def test_admin_resumes_a_customers_scheduled_cancel(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    _schedule_cancel(client, h, sub)
    _, admin = make_user(role="admin")
    assert client.post(f"/v1/admin/subscriptions/{sub['id']}/resume", headers=h).status_code == 403
    r = client.post(f"/v1/admin/subscriptions/{sub['id']}/resume", headers=admin)
    assert r.status_code == 200 and r.json["cancel_at_period_end"] is False
    [event] = client.get(f"/v1/subscriptions/{sub['id']}/history", headers=h).json["items"]
    assert event["type"] == "cancel_undone" and event["details"]["by"] == "admin"
    assert client.post(f"/v1/admin/subscriptions/{sub['id']}/resume", headers=admin).status_code == 409
