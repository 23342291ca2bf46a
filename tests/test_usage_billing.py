"""Usage in arrears: soft limits, the upcoming invoice, and the renewal invoice's usage line (issue #17)."""
import pytest
from sqlalchemy import select

from core.extensions import db
from subscription_app.usage.models import UsageCounter
from tests.billing_support import (BASIC_MONTHLY_ID, advance_to, pay, payment_stub, run_cycle,  # noqa: F401
                                   subscribe_and_pay)
from tests.support.discounts import basic_soft  # noqa: F401 - the fixture
from tests.usage_support import use

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def _usage_line(lines):
    return next(line for line in lines if line["kind"] == "usage")


def test_soft_limit_allows_past_included_and_hard_limit_still_refuses(client, basic_soft, make_user, payment_stub):
    user, h = make_user()
    subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    assert use(client, h, "api_calls", 1000).status_code == 200
    assert use(client, h, "api_calls", 1).status_code == 200  # soft: billed, not refused
    assert use(client, h, "reports", 10).status_code == 200
    assert use(client, h, "reports", 1).status_code == 429  # not priced: the hard limit of feature_limits


def test_upcoming_invoice_shows_usage_so_far(client, basic_soft, make_user, payment_stub):
    user, h = make_user()
    subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    assert use(client, h, "api_calls", 1500).status_code == 200
    upcoming = client.get("/v1/invoices/upcoming", headers=h)
    assert upcoming.status_code == 200, upcoming.json
    line = _usage_line(upcoming.json["lines"])
    assert (line["quantity"], line["included"], line["billable"], line["amount_cents"]) == (1500, 1000, 500, 1000)
    assert upcoming.json["amount_due_cents"] == 900 + 1000


def test_upcoming_invoice_without_subscription_is_404_and_admin_sees_the_same(client, basic_soft, make_user,
                                                                               payment_stub):
    user, h = make_user()
    assert client.get("/v1/invoices/upcoming", headers=h).status_code == 404
    subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    use(client, h, "api_calls", 1200)
    mine = client.get("/v1/invoices/upcoming", headers=h).json
    admin = client.get(f"/v1/admin/users/{user.id}/upcoming-invoice", headers=basic_soft).json
    assert admin["lines"] == mine["lines"] and admin["amount_due_cents"] == 900 + 400
    assert client.get(f"/v1/admin/users/{user.id}/upcoming-invoice", headers=h).status_code == 403


def test_renewal_invoice_carries_the_closed_period_usage_and_is_paid(app, client, basic_soft, make_user,
                                                                    payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    assert use(client, h, "api_calls", 1500).status_code == 200  # in Redis only: no sync job has run
    advance_to(app, sub["current_period_end"])
    assert run_cycle()["renewed_or_ended"] == 1
    invoice = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["latest_invoice"]
    line = _usage_line(invoice["lines"])
    assert (line["quantity"], line["billable"], line["amount_cents"]) == (1500, 500, 1000)
    assert line["period_start"] == sub["current_period_start"] and line["period_end"] == sub["current_period_end"]
    assert invoice["amount_due_cents"] == 900 + 1000
    with app.app_context():  # the final sync wrote the closed period to the ledger
        assert db.session.scalar(select(UsageCounter.used).where(UsageCounter.user_id == user.id)) == 1500
    assert pay(client, invoice, user.id).status_code == 200
    assert client.get(f"/v1/invoices/{invoice['id']}", headers=h).json["status"] == "paid"
    assert client.get("/v1/usage/api_calls", headers=h).json["used"] == 0  # the new period


def test_usage_under_included_is_a_zero_line(app, client, basic_soft, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    use(client, h, "api_calls", 10)
    advance_to(app, sub["current_period_end"])
    run_cycle()
    invoice = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["latest_invoice"]
    assert _usage_line(invoice["lines"])["amount_cents"] == 0 and invoice["amount_due_cents"] == 900


def test_done_when_reported_events_become_the_renewal_usage_line(app, client, basic_soft, make_user, payment_stub):
    """Issue #17's acceptance: 1,500 events (some twice) -> 500 billable = 1000 cents, billed and paid."""
    from core import clock
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    key = client.post("/v1/admin/api-keys", json={"name": "backend"}, headers=basic_soft).json["key"]
    events = [{"event_id": f"call-{i}", "customer": user.id, "feature": "api_calls", "quantity": 1,
               "timestamp": clock.utcnow().isoformat()} for i in range(1500)]
    for start in range(0, 1500, 1000):
        r = client.post("/v1/usage/events", json={"events": events[start:start + 1000]}, headers={"X-Api-Key": key})
        assert r.json["accepted"] == len(events[start:start + 1000])
    resent = client.post("/v1/usage/events", json={"events": events[:300]}, headers={"X-Api-Key": key}).json
    assert (resent["accepted"], resent["duplicate"]) == (0, 300)
    line = _usage_line(client.get("/v1/invoices/upcoming", headers=h).json["lines"])
    assert (line["quantity"], line["billable"], line["amount_cents"]) == (1500, 500, 1000)
    advance_to(app, sub["current_period_end"])
    assert run_cycle()["renewed_or_ended"] == 1
    invoice = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["latest_invoice"]
    assert _usage_line(invoice["lines"])["amount_cents"] == 1000 and invoice["amount_due_cents"] == 1900
    pay(client, invoice, user.id)
    assert client.get(f"/v1/invoices/{invoice['id']}", headers=h).json["status"] == "paid"
