"""PUT /v1/subscriptions/{id}/payment-method: the new card is charged by renewals, at once if past_due."""
import pytest

from core.extensions import db
from tests.support.billing_support import BAD_CARD, advance_to, charge_requests, fail, pay, run_cycle, subscribe_and_pay

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
NEW_CARD = {"number": "5555555555554444", "exp_month": 1, "exp_year": 2031, "cvc": "321"}


def _put_card(client, h, sub, card):
    return client.put(f"/v1/subscriptions/{sub['id']}/payment-method", json={"card": card}, headers=h)


def test_new_card_replaces_the_one_renewals_charge(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    r = _put_card(client, h, sub, NEW_CARD)
    assert r.status_code == 200, r.json
    new_method = r.json["payment_method_id"]
    assert new_method and new_method != sub["payment_method_id"]
    assert payment_stub.requests[-1]["body"] == {"user_id": user.id, "card": NEW_CARD}
    before = len(charge_requests(client.application))
    assert len(charge_requests(client.application)) == before  # active: nothing retried
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    [renewal] = charge_requests(client.application)[before:]
    assert renewal["data"]["payment_method_id"] == new_method and renewal["data"]["amount_cents"] == 2900
    with client.application.app_context():  # the card number is not stored on this side
        rows = db.session.execute(db.text("SELECT * FROM sub_outbox_events")).all()
        rows += db.session.execute(db.text("SELECT * FROM subscription_events")).all()
        assert "5555555555554444" not in str(rows)


def test_past_due_invoice_is_retried_at_once_with_the_new_card_and_paid(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    advance_to(client.application, sub["current_period_end"])
    run_cycle()
    invoice = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["latest_invoice"]
    fail(client, invoice, user.id)
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["status"] == "past_due"
    before = len(charge_requests(client.application))
    r = _put_card(client, h, sub, NEW_CARD)
    assert r.status_code == 200 and r.json["next_payment_attempt_at"] is None
    [retry] = charge_requests(client.application)[before:]
    assert retry["data"]["payment_method_id"] == r.json["payment_method_id"]
    assert (retry["data"]["invoice_id"], retry["data"]["amount_cents"]) == (invoice["id"], 2900)
    assert retry["data"]["idempotency_key"] == f"{invoice['id']}:2"
    pay(client, invoice, user.id, payment_method_id=r.json["payment_method_id"])
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["status"] == "active" and after["latest_invoice"]["status"] == "paid"
    [event] = client.get(f"/v1/subscriptions/{sub['id']}/history", headers=h).json["items"]
    assert event["type"] == "payment_method_updated" and event["details"]["retried_invoice_id"] == invoice["id"]


def test_bad_card_is_422_and_changes_nothing(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    r = _put_card(client, h, sub, BAD_CARD)
    assert r.status_code == 422 and r.json["errors"] == {"json": {"card": {"number": ["Card number is invalid (checksum)."]}}}
    assert client.put(f"/v1/subscriptions/{sub['id']}/payment-method", json={}, headers=h).status_code == 422
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert after["payment_method_id"] == sub["payment_method_id"]
    assert client.get(f"/v1/subscriptions/{sub['id']}/history", headers=h).json["items"] == []


def test_card_of_an_ended_or_foreign_subscription_is_refused(client, seeded, make_user, payment_stub):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    _, other = make_user()
    assert _put_card(client, other, sub, NEW_CARD).status_code == 404
    client.delete(f"/v1/subscriptions/{sub['id']}", headers=h)
    assert _put_card(client, h, sub, NEW_CARD).status_code == 409
