"""The customer credit balance (issue #16): a ledger per currency, spent before any charge, never negative."""
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app.discounts import balance
from subscription_app.discounts.models import BalanceTransaction
from tests.support.billing_support import (BASIC_MONTHLY_ID, GOOD_CARD, PRO_MONTHLY_ID, add_plan, charge_requests,
                                           put_plan, set_period, subscribe_and_pay)
from tests.support.discounts import give

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def ledger(user_id: int) -> list[tuple[str, int]]:
    return [(row.reason, row.amount_cents) for row in db.session.scalars(
        select(BalanceTransaction).where(BalanceTransaction.user_id == user_id).order_by(BalanceTransaction.id))]


def test_partial_credit_is_spent_first_and_only_the_rest_is_charged(client, seeded, make_user, payment_stub):
    user, h = make_user()
    give(client.application, user.id, 1000)
    give(client.application, user.id, 700, currency="EUR")  # another currency is not touched
    r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD}, headers=h)
    assert r.status_code == 201, r.json
    invoice = r.json["latest_invoice"]
    assert [(line["kind"], line["amount_cents"]) for line in invoice["lines"]] == [
        ("plan", 2900), ("applied_balance", -1000)]
    assert invoice["amount_due_cents"] == 1900
    assert [c["data"]["amount_cents"] for c in charge_requests(client.application)] == [1900]
    assert client.get("/v1/auth/me", headers=h).json["balance"] == [{"currency": "EUR", "amount_cents": 700}]
    assert ledger(user.id) == [("test_grant", -1000), ("test_grant", -700), ("applied_to_invoice", 1000)]


def test_credit_covering_the_whole_invoice_pays_it_with_no_charge(client, seeded, make_user):
    user, h = make_user()
    give(client.application, user.id, 5000)
    r = client.post("/v1/subscriptions", json={"plan_id": str(BASIC_MONTHLY_ID)}, headers=h)
    assert r.json["latest_invoice"]["amount_due_cents"] == 0 and r.json["latest_invoice"]["status"] == "paid"
    assert r.json["status"] == "active" and charge_requests(client.application) == []
    assert client.get("/v1/auth/me", headers=h).json["balance"] == [{"currency": "USD", "amount_cents": 4100}]


def test_a_voided_invoice_gives_its_credit_back(client, seeded, make_user):
    user, h = make_user()
    give(client.application, user.id, 1000)
    sub = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h).json
    assert client.get("/v1/auth/me", headers=h).json["balance"] == []
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=h).status_code == 200  # voids the open invoice
    assert client.get("/v1/auth/me", headers=h).json["balance"] == [{"currency": "USD", "amount_cents": 1000}]
    assert ledger(user.id)[-1] == ("invoice_voided", -1000)


def test_me_without_credit_shows_an_empty_balance(client, make_user):
    _, h = make_user()
    assert client.get("/v1/auth/me", headers=h).json["balance"] == []


def test_an_upgrade_paid_by_credit_switches_at_once(client, seeded, make_user, payment_stub):
    """Basic 900 -> Pro 2900 half-way: credit -450, charge 1450, due 1000, all from a 5000 balance."""
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    give(client.application, user.id, 5000)
    now = clock.utcnow().replace(microsecond=0)
    set_period(client.application, sub["id"], now - timedelta(days=15), now + timedelta(days=15))
    with time_machine.travel(now, tick=False):
        r = put_plan(client, h, sub, PRO_MONTHLY_ID)
    assert r.status_code == 200, r.json
    assert [(line["kind"], line["amount_cents"]) for line in r.json["latest_invoice"]["lines"]] == [
        ("proration_credit", -450), ("proration_charge", 1450), ("applied_balance", -1000)]
    assert r.json["latest_invoice"]["status"] == "paid" and r.json["plan_id"] == str(PRO_MONTHLY_ID)
    assert client.get("/v1/auth/me", headers=h).json["balance"] == [{"currency": "USD", "amount_cents": 4000}]


def test_a_credit_note_without_refund_goes_to_the_balance(client, seeded, make_user, payment_stub):
    _, admin = make_user("ops@example.com", role="admin")
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)  # Pro 2900 paid
    url = f"/v1/admin/invoices/{sub['latest_invoice']['id']}/credit-notes"
    assert client.post(url, json={"amount_cents": 100, "reason": "x"}, headers=h).status_code == 403
    refund = client.post(url, json={"amount_cents": 100, "reason": "x", "refund": True}, headers=admin)
    assert refund.status_code == 422 and "refund" in refund.json["errors"]["json"]
    r = client.post(url, json={"amount_cents": 1000, "reason": "Outage", "refund": False}, headers=admin)
    assert r.status_code == 201, r.json
    assert r.json["refund_id"] is None and r.json["lines"][0]["kind"] == "credit_to_balance"
    too_much = client.post(url, json={"amount_cents": 1901, "reason": "again"}, headers=admin)
    assert too_much.status_code == 422 and too_much.json["errors"]["json"]["amount_cents"] == [
        "Must be between 1 and 1900, what is left to credit on this invoice."]
    assert client.get("/v1/auth/me", headers=h).json["balance"] == [{"currency": "USD", "amount_cents": 1000}]
    assert ledger(user.id) == [("credit_note", -1000)]
    invoice = client.get(f"/v1/invoices/{sub['latest_invoice']['id']}", headers=h).json
    assert invoice["amount_refunded_cents"] == 0 and len(invoice["credit_notes"]) == 1
    assert client.get("/v1/credit-notes", headers=h).json["items"][0]["amount_cents"] == 1000


def test_a_quoted_interval_change_banks_the_same_excess(client, seeded, make_user, payment_stub):
    """The quote shows the credit_to_balance line; PUT with it moves exactly that to the balance."""
    yearly = add_plan(client.application, 29000)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=yearly)
    now = clock.utcnow().replace(microsecond=0)
    set_period(client.application, sub["id"], now - timedelta(days=65), now + timedelta(days=300))
    with time_machine.travel(now, tick=False):
        quote = client.post(f"/v1/subscriptions/{sub['id']}/plan/preview",
                            json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h).json
        assert [(line["kind"], line["amount_cents"]) for line in quote["lines"]] == [
            ("proration_credit", -23836), ("plan", 2900), ("credit_to_balance", 20936)]
        r = client.put(f"/v1/subscriptions/{sub['id']}/plan",
                       json={"plan_id": str(PRO_MONTHLY_ID), "quote_id": quote["quote_id"]}, headers=h)
    assert r.status_code == 200, r.json
    assert r.json["plan_id"] == str(PRO_MONTHLY_ID) and r.json["latest_invoice"]["status"] == "paid"
    assert client.get("/v1/auth/me", headers=h).json["balance"] == [{"currency": "USD", "amount_cents": 20936}]
