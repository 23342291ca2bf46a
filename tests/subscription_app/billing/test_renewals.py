"""Renewals, dunning to cancellation, cancel at period end, expiry of unpaid subscriptions."""
import uuid
from datetime import datetime, timedelta

import pytest

from core.extensions import db
from core.settings import SettingsError, load_settings
from subscription_app.models import Invoice, Subscription
from tests.support.billing_support import (BASIC_MONTHLY_ID, PRO_MONTHLY_ID, advance, advance_to, charge_requests, fail,
                                           pay, run_cycle, subscribe_and_pay)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
DAY = 86400


def _get(client, h, sub):
    return client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json


def _invoices(client, h):
    return client.get("/v1/invoices", headers=h).json["items"]


def test_renewal_creates_the_next_invoice_and_charges_the_saved_method(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    assert run_cycle()["renewed_or_ended"] == 0  # nothing due yet
    advance(client.application, 31 * DAY)
    assert run_cycle()["renewed_or_ended"] == 1
    assert run_cycle()["renewed_or_ended"] == 0  # safe to run twice: the period moved on
    renewed = _get(client, h, sub)
    assert renewed["status"] == "active"  # still active while the charge is in flight
    assert renewed["current_period_start"] == sub["current_period_end"]
    inv = renewed["latest_invoice"]
    assert inv["reason"] == "subscription_cycle" and inv["status"] == "open" and inv["amount_due_cents"] == 2900
    assert inv["period_start"] == sub["current_period_end"] and inv["period_end"] == renewed["current_period_end"]
    charge = charge_requests(client.application)[-1]["data"]
    assert charge["idempotency_key"] == f"{inv['id']}:1" and charge["kind"] == "charge"
    assert charge["payment_method_id"] == sub["payment_method_id"] and charge["amount_cents"] == 2900
    pay(client, inv, user.id)
    assert _get(client, h, sub)["status"] == "active"
    assert [i["status"] for i in _invoices(client, h)] == ["paid", "paid"]


def test_dunning_retries_on_schedule_then_cancels(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    inv = _get(client, h, sub)["latest_invoice"]
    due = datetime.fromisoformat(inv["period_start"])
    keys = [charge_requests(client.application)[-1]["data"]["idempotency_key"]]
    for attempt, days in enumerate((1, 3, 5), start=1):
        fail(client, inv, user.id)
        s = _get(client, h, sub)
        assert s["status"] == "past_due" and s["failed_payment_attempts"] == attempt
        assert datetime.fromisoformat(s["next_payment_attempt_at"]) == due + timedelta(days=days)
        # Still reported (past_due counts as active: access continues while we retry).
        assert client.get("/v1/subscriptions/active", headers=h).json["status"] == "past_due"
        assert run_cycle()["dunning_retries"] == 0  # not due yet
        advance_to(client.application, due + timedelta(days=days))
        assert run_cycle()["dunning_retries"] == 1
        assert run_cycle()["dunning_retries"] == 0  # the attempt is in flight: not sent twice
        keys.append(charge_requests(client.application)[-1]["data"]["idempotency_key"])
    assert keys == [f"{inv['id']}:{n}" for n in (1, 2, 3, 4)]
    fail(client, inv, user.id)
    s = _get(client, h, sub)
    assert s["status"] == "canceled" and s["ended_at"] and s["next_payment_attempt_at"] is None
    assert client.get(f"/v1/invoices/{inv['id']}", headers=h).json["status"] == "uncollectible"
    assert client.get("/v1/subscriptions/active", headers=h).status_code == 404
    assert run_cycle() == {"resumed": 0, "renewed_or_ended": 0, "dunning_retries": 0, "expired": 0,
                           "lapsed_plan_changes": 0, "trial_will_end": 0, "failed": 0, "complete": True}


def test_a_successful_retry_makes_it_active_again(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    advance(client.application, 31 * DAY)
    run_cycle()
    inv = _get(client, h, sub)["latest_invoice"]
    fail(client, inv, user.id)
    assert _get(client, h, sub)["status"] == "past_due"
    advance(client.application, 1 * DAY + 60)
    run_cycle()
    pay(client, inv, user.id)
    s = _get(client, h, sub)
    assert s["status"] == "active" and s["failed_payment_attempts"] == 0 and s["next_payment_attempt_at"] is None


def test_renewal_without_saved_method_is_past_due_until_paid(client, seeded, make_user):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, card=False)
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    s = _get(client, h, sub)
    assert s["status"] == "past_due" and s["failed_payment_attempts"] == 1
    assert charge_requests(client.application) == []
    pay(client, s["latest_invoice"], user.id)  # e.g. through POST /v1/payments/process
    assert _get(client, h, sub)["status"] == "active"


def test_cancel_at_period_end_is_applied_by_the_renewal(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h)
    advance(client.application, 31 * DAY)
    run_cycle()
    s = _get(client, h, sub)
    assert s["status"] == "canceled" and s["ended_at"] == sub["current_period_end"]
    assert len(_invoices(client, h)) == 1 and len(charge_requests(client.application)) == 1  # no renewal
    # The user may subscribe again.
    again = client.post("/v1/subscriptions", json={"plan_id": str(BASIC_MONTHLY_ID)}, headers=h)
    assert again.status_code == 201


def test_unpaid_subscription_expires_after_23_hours(client, seeded, make_user):
    user, h = make_user()
    sub = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h).json
    advance(client.application, 22 * 3600)
    assert run_cycle()["expired"] == 0
    advance(client.application, 3600 + 1)
    assert run_cycle()["expired"] == 1
    s = _get(client, h, sub)
    assert s["status"] == "incomplete_expired" and s["latest_invoice"]["status"] == "void"
    assert client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h).status_code == 201


def test_a_broken_row_does_not_stop_the_others(client, seeded, make_user, payment_stub):
    user_a, a = make_user()
    user_b, b = make_user()
    sub_a = subscribe_and_pay(client, a, user_a.id)
    sub_b = subscribe_and_pay(client, b, user_b.id)
    with client.application.app_context():  # a plan that cannot be renewed (unknown interval in code terms)
        db.session.execute(db.text("ALTER TABLE plans DROP CONSTRAINT ck_plans_billing_interval"))
        db.session.execute(db.text("UPDATE plans SET billing_interval = 'hour' WHERE id = :id"),
                           {"id": BASIC_MONTHLY_ID})
        db.session.get(Subscription, uuid.UUID(sub_a["id"])).plan_id = BASIC_MONTHLY_ID
        db.session.commit()
    try:
        advance(client.application, 31 * DAY)
        assert run_cycle()["renewed_or_ended"] == 1
        assert _get(client, b, sub_b)["latest_invoice"]["reason"] == "subscription_cycle"
        assert _get(client, a, sub_a)["current_period_end"] == sub_a["current_period_end"]
    finally:
        with client.application.app_context():
            db.session.execute(db.text("UPDATE plans SET billing_interval = 'month'"))
            db.session.execute(db.text("ALTER TABLE plans ADD CONSTRAINT ck_plans_billing_interval "
                                       "CHECK (billing_interval IN ('day', 'week', 'month', 'year'))"))
            db.session.commit()


def test_dunning_days_setting(monkeypatch):
    monkeypatch.setenv("DUNNING_RETRY_DAYS", "2, 4,7")
    assert load_settings().dunning_retry_days == (2, 4, 7)
    for bad in ("1,x", "3,1", "0,1"):
        monkeypatch.setenv("DUNNING_RETRY_DAYS", bad)
        with pytest.raises(SettingsError):
            load_settings()


def test_invoice_count_is_one_per_period(app, client, seeded, make_user, payment_stub):
    user, h = make_user()
    subscribe_and_pay(client, h, user.id)
    advance(app, 31 * DAY)
    run_cycle()
    run_cycle()
    with app.app_context():
        assert db.session.query(Invoice).filter_by(reason="subscription_cycle").count() == 1


def test_past_due_set_to_cancel_ends_at_period_end(client, seeded, make_user, payment_stub):
    user, h = make_user()
    app = client.application
    original = app.config["SETTINGS"]
    app.config["SETTINGS"] = original.with_overrides(dunning_retry_days=(40,))
    try:
        sub = subscribe_and_pay(client, h, user.id)
        advance_to(app, sub["current_period_end"])
        run_cycle()
        renewed = _get(client, h, sub)
        fail(client, renewed["latest_invoice"], user.id)
        assert _get(client, h, sub)["status"] == "past_due"
        client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h)
        advance_to(app, renewed["current_period_end"])
        run_cycle()
        s = _get(client, h, sub)
        assert s["status"] == "canceled" and s["latest_invoice"]["status"] == "void"
    finally:
        app.config["SETTINGS"] = original
