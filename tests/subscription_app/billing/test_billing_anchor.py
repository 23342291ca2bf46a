"""The billing cycle anchor: period ends are anchor + k intervals, so a short month does not move the day for good."""
from datetime import datetime, timedelta, timezone

import pytest

from subscription_app.billing.periods import add_interval, next_period_end
from tests.support.billing_support import (BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID, GOOD_CARD, PRO_MONTHLY_ID,
                                           PRO_TRIAL_ID, add_plan, advance_to, get_subscription, pay, run_cycle,
                                           subscribe_and_pay, when)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
UTC = timezone.utc


def _at(*args) -> datetime:
    return datetime(*args, 12, tzinfo=UTC)


def _ends(anchor, interval, count, n):
    """The next `n` period ends, each computed from the one before, as renewals do."""
    ends, end = [], anchor
    for _ in range(n):
        end = next_period_end(anchor, end, interval, count)
        ends.append(end)
    return ends


# -- periods.py ------------------------------------------------------------------------------

def test_monthly_ends_come_back_to_the_anchor_day():
    assert _ends(_at(2027, 1, 31), "month", 1, 5) == [_at(2027, 2, 28), _at(2027, 3, 31), _at(2027, 4, 30),
                                                      _at(2027, 5, 31), _at(2027, 6, 30)]
    assert _ends(_at(2028, 1, 31), "month", 1, 2) == [_at(2028, 2, 29), _at(2028, 3, 31)]
    assert _ends(_at(2027, 1, 30), "month", 1, 3) == [_at(2027, 2, 28), _at(2027, 3, 30), _at(2027, 4, 30)]
    assert _ends(_at(2027, 1, 31), "month", 3, 3) == [_at(2027, 4, 30), _at(2027, 7, 31), _at(2027, 10, 31)]


def test_yearly_from_feb_29_comes_back_in_the_next_leap_year():
    assert _ends(_at(2028, 2, 29), "year", 1, 4) == [_at(2029, 2, 28), _at(2030, 2, 28), _at(2031, 2, 28),
                                                     _at(2032, 2, 29)]


@pytest.mark.parametrize("interval,count,step", [("day", 1, timedelta(days=1)), ("day", 3, timedelta(days=3)),
                                                 ("week", 1, timedelta(weeks=1)), ("week", 2, timedelta(weeks=2))])
def test_days_and_weeks_are_fixed_steps(interval, count, step):
    anchor = _at(2027, 1, 31)
    assert _ends(anchor, interval, count, 4) == [anchor + k * step for k in (1, 2, 3, 4)]


def test_the_next_end_is_strictly_after_the_current_one_even_off_the_grid():
    anchor = _at(2027, 1, 31)
    assert next_period_end(anchor, _at(2027, 3, 31), "month") == _at(2027, 4, 30)  # on the grid: the next one
    assert next_period_end(anchor, _at(2027, 3, 15), "month") == _at(2027, 3, 31)  # off it: the next grid point
    assert next_period_end(anchor, anchor - timedelta(days=40), "month") == _at(2027, 2, 28)  # never the anchor itself
    assert next_period_end(anchor, _at(2027, 2, 10), "week") == _at(2027, 2, 14)


def test_calendar_days_are_utc_days_whatever_the_offset_of_the_anchor():
    # 2027-01-31 23:30 UTC is Feb 1 in UTC+02: the day of the month is still the 31st.
    anchor = datetime(2027, 2, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert next_period_end(anchor, anchor, "month") == datetime(2027, 2, 28, 23, 30, tzinfo=UTC)


def test_unknown_interval_is_refused():
    with pytest.raises(ValueError):
        next_period_end(_at(2027, 1, 31), _at(2027, 1, 31), "hour")
    with pytest.raises(ValueError):
        add_interval(_at(2027, 1, 31), "fortnight")


def test_add_interval_is_one_period_from_its_start():
    assert add_interval(_at(2027, 1, 31), "month") == _at(2027, 2, 28)
    assert add_interval(_at(2027, 3, 31), "month", 2) == _at(2027, 5, 31)
    assert add_interval(_at(2028, 2, 29), "year") == _at(2029, 2, 28)
    assert add_interval(_at(2027, 1, 31), "day", 10) == _at(2027, 2, 10)


# -- through the billing cycle -------------------------------------------------------------------

def _renew_and_pay(client, h, user_id, sub) -> dict:
    """Run the cycle at the period end, pay the renewal invoice; the subscription afterwards."""
    before = get_subscription(client, h, sub)
    advance_to(client.application, before["current_period_end"])
    assert run_cycle()["renewed_or_ended"] == 1
    renewed = get_subscription(client, h, sub)
    inv = renewed["latest_invoice"]
    assert inv["reason"] in ("subscription_cycle", "trial_conversion") and inv["status"] == "open"
    assert (inv["period_start"], inv["period_end"]) == (before["current_period_end"], renewed["current_period_end"])
    assert renewed["current_period_start"] == before["current_period_end"]
    assert pay(client, inv, user_id).json["processed"] is True
    paid = get_subscription(client, h, sub)
    assert paid["status"] == "active" and paid["latest_invoice"]["status"] == "paid"
    return paid


def _subscribed_at(client, make_user, moment: datetime, plan_id=PRO_MONTHLY_ID):
    user, h = make_user()
    advance_to(client.application, moment, plus_seconds=0)
    sub = subscribe_and_pay(client, h, user.id, plan_id=plan_id)
    start = when(sub["current_period_start"])
    assert start - moment < timedelta(seconds=5)  # the clock keeps running from `moment`
    assert when(sub["billing_cycle_anchor"]) == start
    return user, h, sub, start


@pytest.mark.parametrize("year,february", [(2027, 28), (2028, 29)])
def test_monthly_from_jan_31_renews_on_each_months_last_day(client, seeded, make_user, payment_stub, year, february):
    user, h, sub, start = _subscribed_at(client, make_user, _at(year, 1, 31))
    assert when(sub["current_period_end"]) == start.replace(month=2, day=february)
    for month, day in ((3, 31), (4, 30), (5, 31)):
        sub = _renew_and_pay(client, h, user.id, sub)
        assert when(sub["current_period_end"]) == start.replace(month=month, day=day)
        assert when(sub["billing_cycle_anchor"]) == start  # a renewal keeps the anchor


def test_yearly_from_feb_29_renews_on_feb_28_then_feb_29(client, seeded, make_user, payment_stub):
    yearly = add_plan(client.application, 29000, "year")
    user, h, sub, start = _subscribed_at(client, make_user, _at(2028, 2, 29), plan_id=yearly)
    assert sub["latest_invoice"]["amount_due_cents"] == 29000
    assert when(sub["current_period_end"]) == start.replace(year=2029, day=28)
    for year, day in ((2030, 28), (2031, 28), (2032, 29)):
        sub = _renew_and_pay(client, h, user.id, sub)
        assert when(sub["current_period_end"]) == start.replace(year=year, day=day)
        assert when(sub["billing_cycle_anchor"]) == start


def test_weekly_periods_are_seven_days(client, seeded, make_user, payment_stub):
    weekly = add_plan(client.application, 700, "week")
    user, h, sub, start = _subscribed_at(client, make_user, _at(2027, 1, 31), plan_id=weekly)
    assert when(sub["current_period_end"]) == start + timedelta(weeks=1)
    for k in (2, 3, 4):
        sub = _renew_and_pay(client, h, user.id, sub)
        assert when(sub["current_period_end"]) == start + timedelta(weeks=k)


def test_a_trial_converted_on_the_31st_anchors_there(client, seeded, make_user, payment_stub):
    user, h = make_user()
    advance_to(client.application, _at(2027, 1, 17), plus_seconds=0)
    sub = client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID), "card": GOOD_CARD},
                      headers=h).json
    assert sub["status"] == "trialing" and sub["billing_cycle_anchor"] == sub["trial_start"]
    trial_end = when(sub["trial_end"])
    assert trial_end.day == 31
    converted = _renew_and_pay(client, h, user.id, sub)
    assert converted["plan_id"] == str(PRO_MONTHLY_ID) and converted["latest_invoice"]["reason"] == "trial_conversion"
    assert when(converted["billing_cycle_anchor"]) == trial_end  # the paid cycle starts at conversion
    assert when(converted["current_period_end"]) == trial_end.replace(month=2, day=28)
    renewed = _renew_and_pay(client, h, user.id, converted)
    assert when(renewed["current_period_end"]) == trial_end.replace(month=3)
    assert when(renewed["billing_cycle_anchor"]) == trial_end


def test_a_downgrade_on_the_same_interval_keeps_the_anchor(client, seeded, make_user, payment_stub):
    user, h, sub, start = _subscribed_at(client, make_user, _at(2027, 1, 31))
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(BASIC_MONTHLY_ID)}, headers=h)
    assert r.json["pending_plan_id"] == str(BASIC_MONTHLY_ID)
    sub = _renew_and_pay(client, h, user.id, sub)
    assert sub["plan_id"] == str(BASIC_MONTHLY_ID) and sub["latest_invoice"]["amount_due_cents"] == 900
    assert when(sub["billing_cycle_anchor"]) == start
    sub = _renew_and_pay(client, h, user.id, sub)
    assert when(sub["current_period_end"]) == start.replace(month=4, day=30)


def test_a_scheduled_change_to_another_interval_starts_a_new_cycle_at_the_period_end(client, seeded, make_user,
                                                                                      payment_stub):
    cheaper_yearly = add_plan(client.application, 9000, "year")
    user, h, sub, start = _subscribed_at(client, make_user, _at(2027, 1, 31), plan_id=ENTERPRISE_MONTHLY_ID)
    # Without proration the change is scheduled for the period end (a prorated one applies now).
    quote = client.post(f"/v1/subscriptions/{sub['id']}/plan/preview",
                        json={"plan_id": str(cheaper_yearly), "proration": "none"}, headers=h).json
    assert quote["lines"] == [] and quote["amount_due_now_cents"] == 0, quote
    client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(cheaper_yearly),
                                                           "quote_id": quote["quote_id"]}, headers=h)
    sub = _renew_and_pay(client, h, user.id, sub)
    feb28 = start.replace(month=2, day=28)
    assert sub["plan_id"] == str(cheaper_yearly) and sub["latest_invoice"]["amount_due_cents"] == 9000
    assert when(sub["billing_cycle_anchor"]) == feb28
    assert when(sub["current_period_end"]) == feb28.replace(year=2028)  # a whole year, not Jan 31 2028


def test_a_paid_change_to_another_interval_anchors_the_new_cycle_when_it_is_paid(client, seeded, make_user,
                                                                                 payment_stub):
    """Stripe's rule: an interval change resets the anchor; the year runs from the payment (Jan 31 2027 -> 2028)."""
    yearly = add_plan(client.application, 29000, "year")
    user, h, sub, start = _subscribed_at(client, make_user, _at(2027, 1, 31), plan_id=BASIC_MONTHLY_ID)
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(yearly)}, headers=h)
    assert pay(client, r.json["latest_invoice"], user.id).json["processed"] is True
    upgraded = get_subscription(client, h, sub)
    paid_at = when(upgraded["current_period_start"])
    assert upgraded["plan_id"] == str(yearly) and when(upgraded["billing_cycle_anchor"]) == paid_at
    assert timedelta(0) < paid_at - start < timedelta(seconds=5)  # paid right after the change
    assert when(upgraded["current_period_end"]) == paid_at.replace(year=2028)
    renewed = _renew_and_pay(client, h, user.id, upgraded)
    assert when(renewed["current_period_end"]) == paid_at.replace(year=2029)
    assert renewed["latest_invoice"]["amount_due_cents"] == 29000


def test_a_paid_upgrade_on_the_same_interval_keeps_the_anchor(client, seeded, make_user, payment_stub):
    user, h, sub, start = _subscribed_at(client, make_user, _at(2027, 1, 31), plan_id=BASIC_MONTHLY_ID)
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h)
    pay(client, r.json["latest_invoice"], user.id)
    upgraded = get_subscription(client, h, sub)
    assert upgraded["plan_id"] == str(PRO_MONTHLY_ID) and when(upgraded["billing_cycle_anchor"]) == start
    renewed = _renew_and_pay(client, h, user.id, upgraded)
    assert when(renewed["current_period_end"]) == start.replace(month=3, day=31)


def test_the_anchor_is_read_only_and_documented(client, seeded, make_user):
    _, h = make_user()
    r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID),
                                               "billing_cycle_anchor": "2027-01-31T00:00:00+00:00"}, headers=h)
    assert r.status_code == 422
    spec = client.get("/openapi.json").json
    field = spec["components"]["schemas"]["Subscription"]["properties"]["billing_cycle_anchor"]
    assert field["readOnly"] is True and field["format"] == "date-time"
