"""Trials: trialing at once, card verification, conversion or expiry at trial end, one per user."""
import uuid
from datetime import datetime, timedelta

import pytest

from core.extensions import db
from subscription_app.models import Subscription
from tests.support.billing_support import (BAD_CARD, GOOD_CARD, PRO_MONTHLY_ID, PRO_TRIAL_ID, advance_to,
                                           charge_requests, fail, pay, run_cycle, send_event)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def _trial(client, h, card=None, plan=PRO_TRIAL_ID, key=None):
    body = {"trial_plan_id": str(plan)}
    if card:
        body["card"] = card
    return client.post("/v1/subscriptions/trial", json=body,
                       headers={**h, **({"Idempotency-Key": key} if key else {})})


def _get(client, h, sub):
    return client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json


def _method_event(client, sub, user_id, event_type, **extra):
    return send_event(client, event_type, {"transaction_id": str(uuid.uuid4()), "user_id": user_id,
                                           "subscription_id": sub["id"],
                                           "payment_method_id": sub["payment_method_id"], **extra})


def test_trial_without_card_is_trialing_then_expires(client, seeded, make_user):
    user, h = make_user()
    r = _trial(client, h)
    assert r.status_code == 201, r.json
    sub = r.json
    assert sub["status"] == "trialing" and sub["plan_id"] == str(PRO_TRIAL_ID)
    start, end = datetime.fromisoformat(sub["trial_start"]), datetime.fromisoformat(sub["trial_end"])
    assert end - start == timedelta(days=14) and sub["current_period_end"] == sub["trial_end"]
    assert client.get("/v1/subscriptions/active", headers=h).json["id"] == sub["id"]
    assert charge_requests(client.application) == []
    advance_to(client.application, sub["trial_end"], plus_seconds=-60)
    assert run_cycle()["renewed_or_ended"] == 0
    advance_to(client.application, sub["trial_end"])
    assert run_cycle()["renewed_or_ended"] == 1
    s = _get(client, h, sub)
    assert s["status"] == "expired" and s["ended_at"] == sub["trial_end"]
    assert client.get("/v1/subscriptions/active", headers=h).status_code == 404
    assert client.get("/v1/invoices", headers=h).json["meta"]["total"] == 0  # never charged


def test_trial_with_card_verifies_then_converts_on_payment(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h, card=GOOD_CARD).json
    assert sub["status"] == "trialing" and sub["payment_method_id"]
    [verify] = charge_requests(client.application)
    assert verify["data"] == {"idempotency_key": f"verify:{sub['id']}", "user_id": user.id, "invoice_id": None,
                              "subscription_id": sub["id"], "payment_method_id": sub["payment_method_id"],
                              "amount_cents": 0, "currency": "USD", "kind": "verify",
                              "description": "Card verification for a trial"}
    assert _method_event(client, sub, user.id, "payment_method.verified").json["processed"] is True
    advance_to(client.application, sub["trial_end"])
    run_cycle()
    converting = _get(client, h, sub)
    # Still trialing (and live) until the conversion charge succeeds; the paid period has begun.
    assert converting["status"] == "trialing" and converting["plan_id"] == str(PRO_MONTHLY_ID)
    assert converting["current_period_start"] == sub["trial_end"]
    inv = converting["latest_invoice"]
    assert inv["reason"] == "trial_conversion" and inv["amount_due_cents"] == 2900 and inv["status"] == "open"
    charge = charge_requests(client.application)[-1]["data"]
    assert charge["idempotency_key"] == f"{inv['id']}:1" and charge["kind"] == "charge"
    assert charge["payment_method_id"] == sub["payment_method_id"]
    assert run_cycle()["renewed_or_ended"] == 0  # converting twice is impossible
    pay(client, inv, user.id)
    done = _get(client, h, sub)
    assert done["status"] == "active" and done["trial_end"] == sub["trial_end"]


def test_failed_conversion_goes_past_due(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h, card=GOOD_CARD).json
    advance_to(client.application, sub["trial_end"])
    run_cycle()
    inv = _get(client, h, sub)["latest_invoice"]
    fail(client, inv, user.id)
    s = _get(client, h, sub)
    assert s["status"] == "past_due" and s["failed_payment_attempts"] == 1
    assert datetime.fromisoformat(s["next_payment_attempt_at"]) == datetime.fromisoformat(sub["trial_end"]) + \
        timedelta(days=1)


def test_failed_verification_keeps_the_trial_without_its_card(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h, card=GOOD_CARD).json
    r = _method_event(client, sub, user.id, "payment_method.verification_failed", failure_reason="card_declined")
    assert r.json["processed"] is True
    s = _get(client, h, sub)
    assert s["status"] == "trialing" and s["payment_method_id"] is None
    advance_to(client.application, sub["trial_end"])
    run_cycle()
    assert _get(client, h, sub)["status"] == "expired"


def test_bad_card_on_trial_is_422_and_leaves_nothing(client, seeded, make_user, payment_stub):
    _, h = make_user()
    r = _trial(client, h, card=BAD_CARD)
    assert r.status_code == 422 and r.json["errors"]["json"]["card"]["number"]
    with client.application.app_context():
        assert db.session.query(Subscription).count() == 0


def test_one_trial_per_user_ever(client, seeded, make_user):
    user, h = make_user()
    sub = _trial(client, h).json
    assert _trial(client, h).status_code == 409  # while live
    client.delete(f"/v1/subscriptions/{sub['id']}", headers=h)
    assert _trial(client, h).status_code == 409  # and after
    _, other = make_user()
    assert _trial(client, other).status_code == 201


def test_trial_is_refused_with_a_live_subscription_and_for_a_paid_plan(client, seeded, make_user):
    _, h = make_user()
    assert _trial(client, h, plan=PRO_MONTHLY_ID).status_code == 422
    assert _trial(client, h, plan=uuid.uuid4()).status_code == 404
    client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h)
    assert _trial(client, h).status_code == 409


def test_trial_mass_assignment_is_422(client, seeded, make_user):
    _, h = make_user()
    r = client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID), "status": "active",
                                                     "trial_days": 365}, headers=h)
    assert r.status_code == 422


def test_trial_idempotency_replay(client, seeded, make_user):
    _, h = make_user()
    first = _trial(client, h, key="t1")
    again = _trial(client, h, key="t1")
    assert first.status_code == again.status_code == 201 and first.json == again.json


def test_trial_canceled_at_period_end_is_canceled_not_converted(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = _trial(client, h, card=GOOD_CARD).json
    r = client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h)
    assert r.json["status"] == "trialing" and r.json["cancel_at_period_end"] is True
    advance_to(client.application, sub["trial_end"])
    run_cycle()
    assert _get(client, h, sub)["status"] == "canceled"
    assert len(charge_requests(client.application)) == 1  # only the verification
