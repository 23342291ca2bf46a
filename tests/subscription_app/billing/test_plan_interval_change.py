"""Plan changes between billing intervals (month -> year, month x1 -> month x3): a new cycle, as Stripe does.

The unused time of the old plan is credited (rounded up: the customer's favour), the new plan's full
price is charged, and once that invoice is paid a new period and billing cycle anchor start at that
moment. A credit worth more than the new price is never paid out: the rest goes to the customer balance.
"""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from core.extensions import db
from subscription_app.billing.periods import add_interval
from subscription_app.billing.proration import prorate_interval_change
from subscription_app.models import Subscription
from tests.support.billing_support import (BASIC_MONTHLY_ID, PRO_MONTHLY_ID, advance, advance_to, charge_requests, fail,
                                           pay, refund_requests, run_cycle, add_plan, get_subscription, put_plan,
                                           set_period, subscribe_and_pay, when)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
DAY = 86400


@pytest.mark.parametrize("old,new,remaining,period,amount,credit", [
    (900, 29000, 20 * DAY, 30 * DAY, 28400, -600),             # 600 exactly
    (2900, 7500, 1_000_000, 2_592_000, 6381, -1119),           # credit 1118.83 -> 1119
    (900, 29000, 30 * DAY, 30 * DAY, 28100, -900),             # the whole period unused: the whole old price
    (900, 29000, 0, 30 * DAY, 29000, 0),                       # nothing left: the full new price
    (2900, 2900, 30 * DAY, 30 * DAY, 0, -2900),                # worth exactly the new price: nothing to charge
    (29000, 2900, 300 * DAY, 365 * DAY, -20936, -23836),       # 23835.6 -> 23836: more than the charge
    (0, 29000, 10, 30 * DAY, 29000, 0),                        # from a free plan
])
def test_interval_change_exact_cents(old, new, remaining, period, amount, credit):
    p = prorate_interval_change(old, new, remaining, period)
    assert (p.amount_cents, p.credit_cents, p.charge_cents) == (amount, credit, new)
    assert p.credit_cents + p.charge_cents == p.amount_cents  # the lines add up to the total exactly
    assert p.amount_cents == new - (-(-old * remaining // period))  # floor of the total: the customer's favour


def test_interval_change_refuses_nonsense():
    with pytest.raises(ValueError):
        prorate_interval_change(900, 29000, 10, 0)
    with pytest.raises(ValueError):
        prorate_interval_change(900, 29000, 101, 100)
    with pytest.raises(ValueError):
        prorate_interval_change(900, -1, 10, 100)


def _change_at(client, h, sub, plan_id, elapsed_days: int, period_days: int = 30):
    """PUT the change with `elapsed_days` of a `period_days` period gone, at a frozen instant."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    set_period(client.application, sub["id"], now - timedelta(days=elapsed_days),
                now + timedelta(days=period_days - elapsed_days))
    with time_machine.travel(now, tick=False):
        return put_plan(client, h, sub, plan_id)


def test_monthly_to_yearly_credits_unused_time_charges_a_year_and_starts_a_new_cycle_when_paid(
        client, seeded, make_user, payment_stub):
    yearly = add_plan(client.application, 29000)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    r = _change_at(client, h, sub, yearly, elapsed_days=10)
    assert r.status_code == 200, r.json
    assert r.json["plan_id"] == str(BASIC_MONTHLY_ID) and r.json["pending_plan_id"] is None  # not before paid
    assert r.json["billing_cycle_anchor"] == sub["billing_cycle_anchor"]
    inv = r.json["latest_invoice"]
    assert inv["reason"] == "subscription_update" and inv["status"] == "open" and inv["currency"] == "USD"
    assert inv["amount_due_cents"] == 28400  # 29000 - ceil(900 * 20/30)
    assert [(line["kind"], line["amount_cents"], line["plan_id"]) for line in inv["lines"]] == [
        ("proration_credit", -600, str(BASIC_MONTHLY_ID)), ("plan", 29000, str(yearly))]
    charge = charge_requests(client.application)[-1]["data"]
    assert (charge["amount_cents"], charge["currency"]) == (28400, "USD")
    assert put_plan(client, h, sub, PRO_MONTHLY_ID).status_code == 409  # one change at a time

    advance(client.application, 3600)  # the payment lands an hour later: that is when the change takes effect
    assert pay(client, inv, user.id).json["processed"] is True
    after = get_subscription(client, h, sub)
    paid_at = when(client.get(f"/v1/invoices/{inv['id']}", headers=h).json["paid_at"])
    assert after["plan_id"] == str(yearly) and after["status"] == "active"
    assert when(after["billing_cycle_anchor"]) == when(after["current_period_start"]) == paid_at
    assert when(after["current_period_end"]) == add_interval(paid_at, "year")

    advance_to(client.application, after["current_period_end"])
    assert run_cycle()["renewed_or_ended"] == 1
    renewed = get_subscription(client, h, sub)
    assert renewed["latest_invoice"]["amount_due_cents"] == 29000
    assert when(renewed["current_period_end"]) == add_interval(paid_at, "year", 2)
    assert when(renewed["billing_cycle_anchor"]) == paid_at


def test_month_to_quarter_is_an_interval_change_too(client, seeded, make_user, payment_stub):
    quarterly = add_plan(client.application, 7500, interval="month", count=3)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=PRO_MONTHLY_ID)
    r = _change_at(client, h, sub, quarterly, elapsed_days=15)
    inv = r.json["latest_invoice"]
    assert inv["amount_due_cents"] == 7500 - 1450  # half of Pro's 2900 unused
    pay(client, inv, user.id)
    after = get_subscription(client, h, sub)
    anchor = when(after["billing_cycle_anchor"])
    assert after["plan_id"] == str(quarterly) and anchor > when(sub["billing_cycle_anchor"])
    assert when(after["current_period_end"]) == add_interval(anchor, "month", 3)


def test_a_credit_beyond_the_new_price_goes_to_the_balance_and_pays_the_next_invoices(
        client, seeded, make_user, payment_stub):
    """Yearly -> monthly early in the year: never a negative charge; the excess credit is kept, not thrown away.

    29000 a year, 300 of 365 days unused: credit ceil(23835.6) = 23836; Pro monthly 2900; 20936 to the balance.
    """
    yearly = add_plan(client.application, 29000)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=yearly)
    charges_before = len(charge_requests(client.application))
    r = _change_at(client, h, sub, PRO_MONTHLY_ID, elapsed_days=65, period_days=365)
    assert r.status_code == 200, r.json
    invoice = r.json["latest_invoice"]
    assert [(line["kind"], line["amount_cents"]) for line in invoice["lines"]] == [
        ("proration_credit", -23836), ("plan", 2900), ("credit_to_balance", 20936)]
    assert invoice["amount_due_cents"] == 0 and invoice["status"] == "paid"
    assert r.json["plan_id"] == str(PRO_MONTHLY_ID) and r.json["pending_plan_id"] is None  # switched now
    assert client.get("/v1/auth/me", headers=h).json["balance"] == [{"currency": "USD", "amount_cents": 20936}]
    assert len(charge_requests(client.application)) == charges_before
    after = get_subscription(client, h, sub)
    assert after["billing_cycle_anchor"] == after["current_period_start"]  # the monthly cycle starts at the change
    advance_to(client.application, after["current_period_end"])
    run_cycle()
    renewed = get_subscription(client, h, sub)["latest_invoice"]
    assert [(line["kind"], line["amount_cents"]) for line in renewed["lines"]] == [
        ("plan", 2900), ("applied_balance", -2900)]
    assert renewed["status"] == "paid" and len(charge_requests(client.application)) == charges_before
    assert client.get("/v1/auth/me", headers=h).json["balance"] == [{"currency": "USD", "amount_cents": 18036}]


def test_a_credit_exactly_equal_to_the_new_price_charges_nothing_and_switches_now(
        client, seeded, make_user, payment_stub):
    same_price_quarterly = add_plan(client.application, 2900, interval="month", count=3)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=PRO_MONTHLY_ID)
    r = _change_at(client, h, sub, same_price_quarterly, elapsed_days=0)  # the whole 2900 unused
    assert r.json["plan_id"] == str(same_price_quarterly) and r.json["pending_plan_id"] is None
    assert r.json["latest_invoice"]["amount_due_cents"] == 0 and r.json["latest_invoice"]["status"] == "paid"
    assert client.get("/v1/auth/me", headers=h).json["balance"] == []


def test_a_failed_payment_leaves_plan_period_and_anchor_as_they_were(client, seeded, make_user, payment_stub):
    yearly = add_plan(client.application, 29000)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    before = get_subscription(client, h, sub)
    inv = put_plan(client, h, sub, yearly).json["latest_invoice"]
    assert fail(client, inv, user.id).json["processed"] is True
    after = get_subscription(client, h, sub)
    assert client.get(f"/v1/invoices/{inv['id']}", headers=h).json["status"] == "void"
    for key in ("plan_id", "status", "current_period_start", "current_period_end", "billing_cycle_anchor",
                "pending_plan_id"):
        assert after[key] == before[key], key
    assert put_plan(client, h, sub, yearly).status_code == 200  # may try again


def test_an_unpaid_interval_change_lapses_after_23_hours_and_a_late_payment_is_refunded(
        client, seeded, make_user, payment_stub):
    """The credit was priced at the change; paying days later would get the time in between for free."""
    yearly = add_plan(client.application, 29000)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID, card=False)
    inv = put_plan(client, h, sub, yearly).json["latest_invoice"]
    advance(client.application, 22 * 3600)
    assert run_cycle()["lapsed_plan_changes"] == 0
    advance(client.application, 3600 + 1)
    assert run_cycle()["lapsed_plan_changes"] == 1
    assert run_cycle()["lapsed_plan_changes"] == 0  # once
    assert client.get(f"/v1/invoices/{inv['id']}", headers=h).json["status"] == "void"
    assert pay(client, inv, user.id).json["processed"] is True  # e.g. a payment already in flight
    assert get_subscription(client, h, sub)["plan_id"] == str(BASIC_MONTHLY_ID)
    [refund] = refund_requests(client.application)
    assert refund["data"]["reason"] == "invoice_void"
    assert put_plan(client, h, sub, yearly).status_code == 200  # a new change, priced now


def test_a_same_interval_upgrade_invoice_does_not_lapse_after_23_hours(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID, card=False)
    inv = put_plan(client, h, sub, PRO_MONTHLY_ID).json["latest_invoice"]
    advance(client.application, 2 * DAY)
    assert run_cycle()["lapsed_plan_changes"] == 0
    assert client.get(f"/v1/invoices/{inv['id']}", headers=h).json["status"] == "open"
    pay(client, inv, user.id)
    after = get_subscription(client, h, sub)
    assert after["plan_id"] == str(PRO_MONTHLY_ID) and after["current_period_end"] == sub["current_period_end"]


def test_an_interval_change_priced_by_the_old_rule_keeps_its_old_meaning_when_paid(client, seeded, make_user,
                                                                                   payment_stub):
    """An invoice opened before this release (two proration lines over the old period) still pays for that period
    only: the plan switches and its cycle starts at the period end, never a whole new year for a month's difference."""
    from subscription_app.billing import invoices
    from subscription_app.models import InvoiceLine

    yearly = add_plan(client.application, 29000)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    with client.application.app_context():
        row = db.session.get(Subscription, uuid.UUID(sub["id"]))
        start, end = row.current_period_start, row.current_period_end
        lines = [InvoiceLine(kind="proration_credit", plan_id=BASIC_MONTHLY_ID, currency="USD", amount_cents=-900,
                             period_start=start, period_end=end, description="Unused time on Basic"),
                 InvoiceLine(kind="proration_charge", plan_id=yearly, currency="USD", amount_cents=29000,
                             period_start=start, period_end=end, description="Remaining time on yearly")]
        legacy = invoices.new_invoice(row, "subscription_update", "USD", lines, start, end, start)
        db.session.commit()
        inv = {"id": str(legacy.id), "subscription_id": sub["id"], "amount_due_cents": 28100,
               "amount_paid_cents": 0, "currency": "USD"}
    assert pay(client, inv, user.id).json["processed"] is True
    after = get_subscription(client, h, sub)
    assert after["plan_id"] == str(yearly)
    assert after["current_period_start"] == sub["current_period_start"]
    assert after["current_period_end"] == after["billing_cycle_anchor"] == sub["current_period_end"]
