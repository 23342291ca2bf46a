"""Plan changes: exact prorated cents for upgrades (floor, customer's favour), downgrades at period end."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from core.extensions import db
from subscription_app.billing.proration import prorate_upgrade, remaining_seconds
from subscription_app.models import Plan, Subscription
from tests.support.billing_support import (BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID, PRO_MONTHLY_ID, PRO_TRIAL_ID,
                                           advance, charge_requests, fail, pay, payment_data, refund_requests, put_plan,
                                           run_cycle, send_event, set_period, subscribe_and_pay)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
DAY = 86400


@pytest.mark.parametrize("old,new,remaining,period,amount,credit,charge", [
    (2900, 9900, 15 * DAY, 30 * DAY, 3500, -1450, 4950),          # half a period: exact halves
    (2900, 9900, 20 * DAY, 30 * DAY, 4666, -1934, 6600),          # 4666.67 -> 4666; credit 1933.33 -> 1934
    (900, 2900, 1_000_000, 2_592_000, 771, -348, 1119),           # 771.60 -> 771; credit 347.22 -> 348
    (900, 2900, 30 * DAY, 30 * DAY, 2000, -900, 2900),            # the whole period: the plain difference
    (900, 2900, 0, 30 * DAY, 0, 0, 0),                            # nothing left: nothing to charge
    (900, 901, 1, 31 * DAY, 0, -1, 1),                            # less than a cent rounds down to 0
    (0, 2900, 1, 2_678_400, 0, 0, 0),                             # from a free plan, 1 s left
])
def test_proration_exact_cents(old, new, remaining, period, amount, credit, charge):
    p = prorate_upgrade(old, new, remaining, period)
    assert (p.amount_cents, p.credit_cents, p.charge_cents) == (amount, credit, charge)
    assert p.credit_cents + p.charge_cents == p.amount_cents  # the lines add up to the total exactly
    assert p.amount_cents == (new - old) * remaining // period


def test_proration_refuses_nonsense():
    with pytest.raises(ValueError):
        prorate_upgrade(2900, 900, 10, 100)
    with pytest.raises(ValueError):
        prorate_upgrade(900, 2900, 101, 100)


def test_remaining_seconds_is_whole_and_clamped():
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    end = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert remaining_seconds(start + timedelta(days=10, microseconds=999_999), start, end) == (20 * DAY - 1, 30 * DAY)
    assert remaining_seconds(end + timedelta(days=1), start, end) == (0, 30 * DAY)
    assert remaining_seconds(start - timedelta(days=1), start, end) == (30 * DAY, 30 * DAY)


def test_upgrade_charges_exact_prorated_cents_and_switches_when_paid(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    set_period(client.application, sub["id"], now - timedelta(days=10), now + timedelta(days=20))
    with time_machine.travel(now, tick=False):
        r = put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID)
    assert r.status_code == 200, r.json
    assert r.json["plan_id"] == str(PRO_MONTHLY_ID)  # not yet: the switch waits for the payment
    inv = r.json["latest_invoice"]
    assert inv["reason"] == "subscription_update" and inv["status"] == "open"
    assert inv["amount_due_cents"] == 4666  # floor(7000 * 20/30)
    lines = [(line["kind"], line["amount_cents"], line["plan_id"]) for line in inv["lines"]]
    assert lines == [("proration_credit", -1934, str(PRO_MONTHLY_ID)),
                     ("proration_charge", 6600, str(ENTERPRISE_MONTHLY_ID))]
    charge = charge_requests(client.application)[-1]["data"]
    assert charge["amount_cents"] == 4666 and charge["idempotency_key"] == f"{inv['id']}:1"
    assert charge["payment_method_id"] == sub["payment_method_id"]
    assert put_plan(client, h, sub, BASIC_MONTHLY_ID).status_code == 409  # one change at a time
    pay(client, inv, user.id)
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["plan_id"] == str(ENTERPRISE_MONTHLY_ID) and after["status"] == "active"
    assert after["current_period_end"] == r.json["current_period_end"]  # an upgrade keeps the period


def test_failed_upgrade_payment_voids_it_and_keeps_the_plan(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    inv = put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID).json["latest_invoice"]
    assert fail(client, inv, user.id).json["processed"] is True
    assert client.get(f"/v1/invoices/{inv['id']}", headers=h).json["status"] == "void"
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["plan_id"] == str(PRO_MONTHLY_ID) and after["status"] == "active"
    assert put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID).status_code == 200  # may try again


def test_an_upgrade_paid_when_it_no_longer_applies_is_refunded_not_applied(client, seeded, make_user, payment_stub):
    """The plan changes under the open upgrade invoice (set directly: the API refuses it with 409)."""
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    inv = put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID).json["latest_invoice"]
    with client.application.app_context():
        db.session.get(Subscription, uuid.UUID(sub["id"])).plan_id = BASIC_MONTHLY_ID
        db.session.commit()
    data = payment_data(inv, user_id=user.id)
    assert send_event(client, "payment.succeeded", data).json["processed"] is True
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["plan_id"] == str(BASIC_MONTHLY_ID) and after["status"] == "active"
    [request] = refund_requests(client.application)
    assert request["target"] == "payment_refunds"
    assert request["data"] == {"request_id": f"unwanted-payment:{data['transaction_id']}",
                               "transaction_id": data["transaction_id"], "reason": "upgrade_no_longer_applies"}
    assert send_event(client, "payment.succeeded", data).json["processed"] is False  # reported again
    assert len(refund_requests(client.application)) == 1


def test_upgrade_without_saved_method_waits_for_payments_process(client, seeded, make_user):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, card=False)
    r = put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID)
    assert r.status_code == 200 and r.json["latest_invoice"]["status"] == "open"
    assert charge_requests(client.application) == []


def test_downgrade_is_scheduled_for_period_end(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    r = put_plan(client, h, sub, BASIC_MONTHLY_ID)
    assert r.status_code == 200 and r.json["plan_id"] == str(PRO_MONTHLY_ID)
    assert r.json["pending_plan_id"] == str(BASIC_MONTHLY_ID)
    assert len(client.get("/v1/invoices", headers=h).json["items"]) == 1  # nothing charged now
    advance(client.application, 31 * DAY)
    run_cycle()
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["plan_id"] == str(BASIC_MONTHLY_ID) and after["pending_plan_id"] is None
    renewal = after["latest_invoice"]
    assert renewal["reason"] == "subscription_cycle" and renewal["amount_due_cents"] == 900
    assert renewal["period_start"] == sub["current_period_end"]


def test_a_paid_upgrade_replaces_a_scheduled_downgrade(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    put_plan(client, h, sub, BASIC_MONTHLY_ID)
    r = put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID)
    assert r.json["pending_plan_id"] == str(BASIC_MONTHLY_ID)  # kept until the upgrade is paid
    pay(client, r.json["latest_invoice"], user.id)
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["plan_id"] == str(ENTERPRISE_MONTHLY_ID) and after["pending_plan_id"] is None


@pytest.mark.parametrize("outcome", ["failed", "lapsed"])
def test_a_failed_or_lapsed_upgrade_keeps_the_scheduled_downgrade(client, seeded, make_user, payment_stub, outcome):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    put_plan(client, h, sub, BASIC_MONTHLY_ID)
    inv = put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID).json["latest_invoice"]
    if outcome == "failed":
        assert fail(client, inv, user.id).json["processed"] is True
        after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
        assert (after["plan_id"], after["pending_plan_id"]) == (str(PRO_MONTHLY_ID), str(BASIC_MONTHLY_ID))
    else:  # unpaid at the period end: the renewal voids it and applies the downgrade
        advance(client.application, 31 * DAY)
        run_cycle()
        after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
        assert (after["plan_id"], after["pending_plan_id"]) == (str(BASIC_MONTHLY_ID), None)
        assert after["latest_invoice"]["amount_due_cents"] == 900
    assert client.get(f"/v1/invoices/{inv['id']}", headers=h).json["status"] == "void"


def test_refused_plan_changes(client, seeded, make_user, payment_stub):
    user, h = make_user()
    with client.application.app_context():
        db.session.add(Plan(id=uuid.uuid4(), code="pro_eur", name="Pro EUR", price_cents=9900, currency="EUR"))
        db.session.commit()
        eur = db.session.query(Plan).filter_by(code="pro_eur").one().id
    incomplete = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h).json
    assert put_plan(client, h, incomplete, ENTERPRISE_MONTHLY_ID).status_code == 409  # not paid yet
    pay(client, incomplete["latest_invoice"], user.id)
    sub = incomplete
    assert put_plan(client, h, sub, PRO_MONTHLY_ID).status_code == 422  # same plan
    assert put_plan(client, h, sub, eur).status_code == 422  # another currency
    assert put_plan(client, h, sub, PRO_TRIAL_ID).status_code == 422  # a trial plan
    assert put_plan(client, h, sub, uuid.uuid4()).status_code == 404
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(BASIC_MONTHLY_ID),
                                                                 "amount_cents": 1}, headers=h)
    assert r.status_code == 422  # no mass assignment
    client.delete(f"/v1/subscriptions/{sub['id']}", headers=h)
    assert put_plan(client, h, sub, BASIC_MONTHLY_ID).status_code == 409  # not live
