"""Refunds of invoice payments reach the subscription service: operators only, a credit note per refund,
the invoice's refunded total, and the subscription ended (or kept) by a full refund, in its history.
Both real services in-process; only the gateway's randomness is controlled (tests/support/world.py)."""
import pytest
from sqlalchemy import func

from core import outbox
from core.extensions import db
from jobs.outbox import replay_event
from payment_app.models import MockGatewayRequest, PaymentOutbox, Refund
from subscription_app.models import CreditNote, Invoice, SubscriptionEvent
from subscription_app.seed import ENTERPRISE_MONTHLY_ID
from tests.support.world import CARD

pytestmark = [pytest.mark.subscription, pytest.mark.payment]


@pytest.fixture
def operator(make_user):
    return make_user("ops@example.com", role="admin")[1]


def _subscribed(world, email):
    h = world.user(email)
    sub = world.subscribe(h)
    world.run()
    [txn] = world.transactions(h)
    return h, sub, txn


def _refund(payment_client, headers, txn_id, body=None):
    return payment_client.post(f"/v1/payments/refund/{txn_id}", json=body or {}, headers=headers)


def _history(client, h, sub_id):
    r = client.get(f"/v1/subscriptions/{sub_id}/history", headers=h)
    assert r.status_code == 200, r.json
    return [(e["type"], e["details"].get("subscription_effect")) for e in r.json["items"]]


def _invoice(client, h, invoice_id):
    return client.get(f"/v1/invoices/{invoice_id}", headers=h).json


def test_a_customer_cannot_refund_an_invoice_payment_but_can_a_one_off_charge(world, app, payment_client, client):
    h, sub, txn = _subscribed(world, "self-refund@example.com")
    r = _refund(payment_client, h, txn["id"], {"reason": "free plan please"})
    assert r.status_code == 403 and "only an operator" in r.json["message"]
    world.run()
    with app.app_context():
        assert db.session.query(Refund).count() == 0
    assert world.sub(h, sub["id"])["status"] == "active"
    assert world.transactions(h)[0]["status"] == "succeeded"
    one_off = payment_client.post("/v1/payments/process", json={"amount_cents": 700, "currency": "USD",
                                                               "card": CARD}, headers=h).json
    world.run()
    r = _refund(payment_client, h, one_off["id"])
    assert r.status_code == 202 and r.json["subscription_effect"] == "none"
    assert r.json["requested_by"].startswith("user:")
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"
    assert _history(client, h, sub["id"]) == []


def test_an_operator_full_refund_ends_the_subscription_at_once(world, client, payment_client, operator):
    h, sub, txn = _subscribed(world, "full-refund@example.com")
    r = _refund(payment_client, operator, txn["id"], {"reason": "goodwill"})
    assert r.status_code == 202, r.json
    assert (r.json["subscription_effect"], r.json["keep_subscription"]) == ("canceled", False)
    world.run()
    after = world.sub(h, sub["id"])
    assert after["status"] == "canceled" and after["ended_at"] is not None
    invoice = _invoice(client, h, txn["invoice_id"])
    assert (invoice["status"], invoice["amount_paid_cents"], invoice["amount_refunded_cents"]) == ("paid", 2900, 2900)
    [note] = invoice["credit_notes"]
    assert note["number"].startswith("CN-") and note["refund_id"] == r.json["id"]
    assert (note["amount_cents"], note["currency"], note["reason"]) == (2900, "USD", "goodwill")
    assert [(line["kind"], line["amount_cents"]) for line in note["lines"]] == [("refund", 2900)]
    assert _history(client, h, sub["id"]) == [("refund", "canceled"), ("canceled", None)]
    other = world.user("someone-else@example.com")
    assert client.get(f"/v1/subscriptions/{sub['id']}/history", headers=other).status_code == 404
    assert client.get(f"/v1/credit-notes/{note['id']}", headers=other).status_code == 404


def test_an_operator_full_refund_with_keep_subscription_keeps_it(world, client, payment_client, operator):
    h, sub, txn = _subscribed(world, "keep@example.com")
    r = _refund(payment_client, operator, txn["id"], {"keep_subscription": True})
    assert r.status_code == 202 and r.json["subscription_effect"] == "kept"
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"
    assert _invoice(client, h, txn["invoice_id"])["amount_refunded_cents"] == 2900
    assert _history(client, h, sub["id"]) == [("refund", "kept")]


def test_partial_then_full_refunds_add_up(world, client, payment_client, operator):
    h, sub, txn = _subscribed(world, "partial@example.com")
    first = _refund(payment_client, operator, txn["id"], {"amount_cents": 900, "reason": "outage"})
    assert first.status_code == 202 and first.json["subscription_effect"] == "kept"
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"
    assert _invoice(client, h, txn["invoice_id"])["amount_refunded_cents"] == 900
    rest = _refund(payment_client, operator, txn["id"])
    assert (rest.json["amount_cents"], rest.json["subscription_effect"]) == (2000, "canceled")
    world.run()
    invoice = _invoice(client, h, txn["invoice_id"])
    assert invoice["amount_refunded_cents"] == 2900
    assert sorted(n["amount_cents"] for n in invoice["credit_notes"]) == [900, 2000]
    listed = client.get("/v1/credit-notes", headers=h).json
    assert listed["meta"]["total"] == 2
    numbers = [int(n["number"][3:]) for n in listed["items"]]
    assert numbers[0] == numbers[1] + 1  # newest first, consecutive
    assert world.sub(h, sub["id"])["status"] == "canceled"
    assert _history(client, h, sub["id"]) == [("refund", "kept"), ("refund", "canceled"), ("canceled", None)]


def test_a_refund_event_delivered_twice_has_one_effect(world, app, client, payment_client, operator):
    h, sub, txn = _subscribed(world, "twice@example.com")
    assert _refund(payment_client, operator, txn["id"], {"amount_cents": 1000}).status_code == 202
    world.run()
    with app.app_context():
        [event] = db.session.query(PaymentOutbox).filter_by(event_type="refund.succeeded").all()
        event_id, data = str(event.id), dict(event.payload["data"])
        outbox.emit(PaymentOutbox, "refund.succeeded", "subscription_webhook", data)  # a new event id
        db.session.commit()
    replay_event(event_id)
    world.run()
    invoice = _invoice(client, h, txn["invoice_id"])
    assert invoice["amount_refunded_cents"] == 1000 and len(invoice["credit_notes"]) == 1
    assert _history(client, h, sub["id"]) == [("refund", "kept")]
    assert world.sub(h, sub["id"])["status"] == "active"


def test_a_refunded_upgrade_does_not_keep_the_upgrade_for_free(world, client, payment_client, operator):
    h, sub, _ = _subscribed(world, "upgrade-refund@example.com")
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(ENTERPRISE_MONTHLY_ID)}, headers=h)
    assert r.status_code == 200, r.json
    world.run()
    upgrade = next(t for t in world.transactions(h) if t["amount_cents"] != 2900)
    assert _refund(payment_client, operator, upgrade["id"]).json["subscription_effect"] == "canceled"
    world.run()
    assert world.sub(h, sub["id"])["status"] == "canceled"


def test_the_service_token_is_an_operator(world, payment_client, service_headers):
    h, sub, txn = _subscribed(world, "service@example.com")
    r = _refund(payment_client, service_headers, txn["id"], {"keep_subscription": True})
    assert r.status_code == 202 and (r.json["requested_by"], r.json["subscription_effect"]) == ("service", "kept")
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"


@pytest.mark.parametrize("body", [{"keep_subscription": "yes"}, {"keep_subscription": 1},
                                  {"keep_subscription": None}])
def test_a_bad_keep_subscription_is_a_422_naming_it(world, app, payment_client, operator, body):
    _, _, txn = _subscribed(world, "bad-flag@example.com")
    r = _refund(payment_client, operator, txn["id"], body)
    assert r.status_code == 422 and "keep_subscription" in r.json["errors"]["json"]
    with app.app_context():
        assert db.session.query(Refund).count() == 0


def test_charged_equals_paid_invoices_and_refunded_equals_credit_notes(world, app, payment_client, operator):
    refunds = [None, {"amount_cents": 500}, {}, {"amount_cents": 100, "keep_subscription": True}]
    for n, body in enumerate(refunds):
        _, _, txn = _subscribed(world, f"sums{n}@example.com")
        if body is not None:
            assert _refund(payment_client, operator, txn["id"], body).status_code == 202
    world.run()
    with app.app_context():
        charged = db.session.query(func.sum(MockGatewayRequest.amount_cents)).filter_by(
            operation="charge", approved=True).scalar()
        refunded = db.session.query(func.sum(MockGatewayRequest.amount_cents)).filter_by(
            operation="refund", approved=True).scalar()
        paid = db.session.query(func.sum(Invoice.amount_paid_cents)).filter_by(status="paid").scalar()
        noted = db.session.query(func.sum(CreditNote.amount_cents)).scalar()
        invoiced_back = db.session.query(func.sum(Invoice.amount_refunded_cents)).scalar()
        assert db.session.query(SubscriptionEvent).filter_by(type="canceled").count() == 1
    assert (charged, paid) == (4 * 2900, 4 * 2900)
    assert refunded == noted == invoiced_back == 500 + 2900 + 100


def test_a_full_refund_of_an_older_periods_invoice_answers_none_and_keeps_the_subscription(
        world, client, payment_client, operator):
    """The answer's prediction is the subscription service's rule: only the current period's invoice ends it."""
    from datetime import timedelta

    from core import clock

    h, sub, first_txn = _subscribed(world, "older-period@example.com")
    clock.set_offset(timedelta(days=32).total_seconds())
    world.billing_cycle()
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"
    r = _refund(payment_client, operator, first_txn["id"], {"reason": "old period"})
    assert r.status_code == 202, r.json
    assert (r.json["amount_cents"], r.json["subscription_effect"]) == (2900, "none")
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"
    assert ("refund", "none") in _history(client, h, sub["id"])
