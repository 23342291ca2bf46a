"""POST /v1/webhooks/payment: signatures, exactly-once effects, amount checks, refunds of unwanted payments."""
import logging
import time
import uuid

import pytest

from core.extensions import db
from core.http import encode
from core.security import signature_headers
from subscription_app.models import Invoice, Subscription, SubscriptionInbox, UnwantedPayment
from tests.support.billing_support import PRO_MONTHLY_ID, fail, pay, payment_data, refund_requests, send_event

pytestmark = pytest.mark.subscription


@pytest.fixture
def incomplete(client, seeded, make_user):
    user, h = make_user()
    sub = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h).json
    return user, h, sub, sub["latest_invoice"]


def _invoice(app, invoice_id):
    with app.app_context():
        inv = db.session.get(Invoice, uuid.UUID(invoice_id))
        db.session.expunge(inv)
        return inv


def _status(client, h, sub):
    return client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["status"]


def _unwanted(app):
    with app.app_context():
        rows = db.session.query(UnwantedPayment).order_by(UnwantedPayment.created_at).all()
        db.session.expunge_all()
        return rows


def _inbox_count(app):
    with app.app_context():
        return db.session.query(SubscriptionInbox).count()


def test_payment_succeeded_activates_and_marks_the_invoice_paid(client, incomplete):
    user, h, sub, inv = incomplete
    data = payment_data(inv, user_id=user.id)
    r = send_event(client, "payment.succeeded", data)
    assert r.status_code == 200 and r.json["received"] is True and r.json["processed"] is True
    paid = _invoice(client.application, inv["id"])
    assert paid.status == "paid" and paid.amount_paid_cents == 2900 and paid.paid_at is not None
    assert str(paid.transaction_id) == data["transaction_id"]
    assert _status(client, h, sub) == "active"


def test_redelivery_is_acknowledged_without_a_second_effect(client, incomplete):
    user, h, sub, inv = incomplete
    event_id = str(uuid.uuid4())
    data = payment_data(inv, user_id=user.id)
    first = send_event(client, "payment.succeeded", data, event_id=event_id)
    second = send_event(client, "payment.succeeded", data, event_id=event_id)
    assert first.json["processed"] is True
    assert second.status_code == 200 and second.json["processed"] is False and second.json["duplicate"] is True
    assert _invoice(client.application, inv["id"]).amount_paid_cents == 2900
    # The same payment reported under a new event id changes nothing either.
    third = send_event(client, "payment.succeeded", data)
    assert third.json["processed"] is False
    assert _invoice(client.application, inv["id"]).amount_paid_cents == 2900


@pytest.mark.security
@pytest.mark.parametrize("headers", [
    {},
    {"X-Webhook-Timestamp": str(int(time.time()))},
    {"X-Webhook-Signature": "sha256=00", "X-Webhook-Timestamp": str(int(time.time()))},
    "wrong-secret", "stale", "future", "tampered",
])
def test_bad_signatures_are_401_with_no_effect(client, incomplete, headers):
    user, h, sub, inv = incomplete
    settings = client.application.config["SETTINGS"]
    body = {"event_id": "e1", "type": "payment.succeeded", "data": payment_data(inv, user_id=user.id)}
    raw = encode(body)
    if headers == "wrong-secret":
        headers = signature_headers("another-secret-entirely-another-secret", raw)
    elif headers == "stale":
        headers = signature_headers(settings.webhook_signing_secret, raw, timestamp=int(time.time()) - 301)
    elif headers == "future":
        headers = signature_headers(settings.webhook_signing_secret, raw, timestamp=int(time.time()) + 301)
    elif headers == "tampered":
        headers = signature_headers(settings.webhook_signing_secret, raw)
        raw = raw.replace(b"2900", b"2901")
    r = client.post("/v1/webhooks/payment", data=raw, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == 401 and r.json["code"] == 401
    assert _invoice(client.application, inv["id"]).status == "open"
    assert _status(client, h, sub) == "incomplete" and _inbox_count(client.application) == 0


@pytest.mark.security
def test_a_rotated_secret_is_still_accepted(client, incomplete):
    user, h, sub, inv = incomplete
    app = client.application
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.with_overrides(
        webhook_signing_secrets=("new-secret-new-secret-new-secret-42", settings.webhook_signing_secret))
    try:
        r = send_event(client, "payment.succeeded", payment_data(inv, user_id=user.id),
                       secret=settings.webhook_signing_secret)
    finally:
        app.config["SETTINGS"] = settings
    assert r.status_code == 200 and r.json["processed"] is True


def test_seed_style_body_without_type_is_recorded_unprocessed(client, app):
    r = send_event(client, None, body={"event_id": "test123", "status": "success"})
    assert r.status_code == 200 and r.json == {"received": True, "processed": False, "event_id": "test123"}
    assert _inbox_count(app) == 1
    again = send_event(client, None, body={"event_id": "test123", "status": "success"})
    assert again.status_code == 200 and again.json["duplicate"] is True


def test_unknown_type_is_recorded_unprocessed(client, app):
    r = send_event(client, "customer.updated", {"x": 1})
    assert r.status_code == 200 and r.json["processed"] is False and _inbox_count(app) == 1


@pytest.mark.parametrize("body", [{"type": "payment.succeeded"}, {"event_id": "", "type": "x"},
                                  {"event_id": 5, "type": "x"}, ["not", "an", "object"]])
def test_malformed_envelopes_are_400(client, app, body):
    assert send_event(client, None, body=body).status_code == 400
    assert _inbox_count(app) == 0


def test_non_json_body_is_400(client, app):
    raw = b"not json"
    headers = signature_headers(app.config["SETTINGS"].webhook_signing_secret, raw)
    r = client.post("/v1/webhooks/payment", data=raw, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == 400


def test_invalid_event_data_is_422_and_not_claimed(client, incomplete):
    user, h, sub, inv = incomplete
    event_id = str(uuid.uuid4())
    bad = payment_data(inv, user_id=user.id, amount_cents="lots")
    assert send_event(client, "payment.succeeded", bad, event_id=event_id).status_code == 422
    assert _inbox_count(client.application) == 0
    # A corrected redelivery of the same event id is applied.
    good = payment_data(inv, user_id=user.id)
    assert send_event(client, "payment.succeeded", good, event_id=event_id).json["processed"] is True


@pytest.mark.parametrize("override, reason", [
    ({"amount_cents": 2899}, "amount_mismatch"), ({"amount_cents": 29000}, "amount_mismatch"),
    ({"currency": "EUR"}, "currency_mismatch"), ({"user_id": 999999}, "user_mismatch")])
def test_mismatching_payment_does_not_mark_paid_and_is_refunded_once(client, incomplete, caplog, override, reason):
    user, h, sub, inv = incomplete
    data = payment_data(inv, user_id=user.id)
    data.update(override)
    with caplog.at_level(logging.ERROR, logger="subscription_app.billing.events"):
        r = send_event(client, "payment.succeeded", data)
    assert r.status_code == 200 and r.json["processed"] is True
    assert any(rec.levelno == logging.ERROR for rec in caplog.records)
    assert _invoice(client.application, inv["id"]).status == "open"
    assert _status(client, h, sub) == "incomplete"
    again = send_event(client, "payment.succeeded", data)  # the same payment reported under another event id
    assert again.status_code == 200 and again.json["processed"] is False
    [request] = refund_requests(client.application)
    assert request["target"] == "payment_refunds"
    assert request["data"] == {"request_id": f"unwanted-payment:{data['transaction_id']}",
                               "transaction_id": data["transaction_id"], "reason": reason}
    [unwanted] = _unwanted(client.application)
    assert (str(unwanted.transaction_id), str(unwanted.invoice_id), unwanted.user_id, unwanted.amount_cents,
            unwanted.currency, unwanted.reason) == (data["transaction_id"], inv["id"], data["user_id"],
                                                    data["amount_cents"], data["currency"], reason)
    assert str(unwanted.refund_event_id) == request["event_id"]
    # The right payment still pays the invoice.
    assert pay(client, inv, user.id).json["processed"] is True and _status(client, h, sub) == "active"


def test_mismatching_failed_payment_asks_for_nothing(client, incomplete):
    user, h, sub, inv = incomplete
    assert fail(client, inv, user.id, currency="EUR").json["processed"] is False
    assert refund_requests(client.application) == [] and _unwanted(client.application) == []


def test_payment_for_unknown_invoice_is_refunded_once(client, app, caplog):
    data = {"transaction_id": str(uuid.uuid4()), "user_id": 1, "invoice_id": str(uuid.uuid4()),
            "amount_cents": 100, "currency": "USD"}
    with caplog.at_level(logging.ERROR):
        r = send_event(client, "payment.succeeded", data)
    assert r.status_code == 200 and r.json["processed"] is True
    assert "unknown invoice" in caplog.text
    assert send_event(client, "payment.succeeded", data).json["processed"] is False
    [request] = refund_requests(app)
    assert request["data"] == {"request_id": f"unwanted-payment:{data['transaction_id']}",
                               "transaction_id": data["transaction_id"], "reason": "invoice_unknown"}
    [unwanted] = _unwanted(app)
    assert (str(unwanted.invoice_id), unwanted.user_id, unwanted.amount_cents) == (data["invoice_id"], 1, 100)


def test_parallel_reports_of_one_unwanted_payment_request_one_refund(app):
    """Two event ids for the same payment, delivered at once (no invoice row to queue them up)."""
    import threading
    data = {"transaction_id": str(uuid.uuid4()), "user_id": 1, "invoice_id": str(uuid.uuid4()),
            "amount_cents": 100, "currency": "USD"}
    results, barrier = [], threading.Barrier(4)

    def go():
        c = app.test_client()
        barrier.wait()
        r = send_event(c, "payment.succeeded", data)
        results.append((r.status_code, r.json["processed"]))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(200, False)] * 3 + [(200, True)]
    assert len(refund_requests(app)) == 1 and len(_unwanted(app)) == 1
    assert _inbox_count(app) == 4


@pytest.mark.parametrize("override", [{"currency": "usd"}, {"currency": "EURO"}, {"amount_cents": -1},
                                      {"user_id": "me"}])
def test_payment_event_with_bad_money_fields_is_422_and_changes_nothing(client, incomplete, override):
    user, h, sub, inv = incomplete
    data = payment_data(inv, user_id=user.id)
    data.update(override)
    r = send_event(client, "payment.succeeded", data)
    assert r.status_code == 422 and r.json["code"] == 422 and "data" in r.json["errors"]["json"]
    assert _inbox_count(client.application) == 0
    assert refund_requests(client.application) == [] and _unwanted(client.application) == []
    assert _invoice(client.application, inv["id"]).status == "open"


def test_failed_first_payment_keeps_it_incomplete_and_not_active(client, incomplete):
    user, h, sub, inv = incomplete
    assert fail(client, inv, user.id).json["processed"] is True
    invoice = _invoice(client.application, inv["id"])
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert _status(client, h, sub) == "incomplete"
    assert client.get("/v1/subscriptions/active", headers=h).status_code == 404
    # Paying later (e.g. with another card through /v1/payments/process) still activates it.
    pay(client, inv, user.id)
    assert _status(client, h, sub) == "active"


def test_payment_on_a_voided_invoice_is_not_applied_and_is_refunded(client, incomplete):
    user, h, sub, inv = incomplete
    client.delete(f"/v1/subscriptions/{sub['id']}", headers=h)
    data = payment_data(inv, user_id=user.id)
    assert send_event(client, "payment.succeeded", data).json["processed"] is True
    assert _status(client, h, sub) == "canceled"
    invoice = _invoice(client.application, inv["id"])
    assert (invoice.status, invoice.amount_paid_cents, invoice.transaction_id) == ("void", 0, None)
    [request] = refund_requests(client.application)
    assert request["target"] == "payment_refunds"
    assert request["data"] == {"request_id": f"unwanted-payment:{data['transaction_id']}",
                               "transaction_id": data["transaction_id"], "reason": "invoice_void"}
    # The same payment reported again under another event id asks for nothing more.
    assert send_event(client, "payment.succeeded", data).json["processed"] is False
    assert len(refund_requests(client.application)) == 1
    [unwanted] = _unwanted(client.application)
    assert (unwanted.reason, unwanted.amount_cents, unwanted.currency) == ("invoice_void", 2900, "USD")


def test_a_second_payment_of_a_paid_invoice_is_refunded_and_the_first_kept(client, incomplete):
    user, h, sub, inv = incomplete
    first, second = payment_data(inv, user_id=user.id), payment_data(inv, user_id=user.id)
    assert send_event(client, "payment.succeeded", first).json["processed"] is True
    send_event(client, "payment.succeeded", first)  # the payment that paid it, reported again: not unwanted
    assert refund_requests(client.application) == []
    assert send_event(client, "payment.succeeded", second).json["processed"] is True
    [request] = refund_requests(client.application)
    assert (request["data"]["transaction_id"], request["data"]["reason"]) == (second["transaction_id"], "invoice_paid")
    assert send_event(client, "payment.succeeded", second).json["processed"] is False  # reported again
    assert len(refund_requests(client.application)) == 1
    invoice = _invoice(client.application, inv["id"])
    assert (str(invoice.transaction_id), invoice.amount_paid_cents) == (first["transaction_id"], 2900)
    assert _status(client, h, sub) == "active"


def test_an_invoice_paid_after_its_subscription_ended_is_refunded(client, incomplete):
    """Cancel voids open invoices, so this state is set directly: the guard must still give the money back."""
    user, h, sub, inv = incomplete
    with client.application.app_context():
        db.session.get(Subscription, uuid.UUID(sub["id"])).status = "canceled"
        db.session.commit()
    data = payment_data(inv, user_id=user.id)
    assert send_event(client, "payment.succeeded", data).json["processed"] is True
    assert _status(client, h, sub) == "canceled"
    assert _invoice(client.application, inv["id"]).status == "paid"  # the money did arrive, and goes back
    [request] = refund_requests(client.application)
    assert request["data"] == {"request_id": f"unwanted-payment:{data['transaction_id']}",
                               "transaction_id": data["transaction_id"], "reason": "subscription_canceled"}
    send_event(client, "payment.succeeded", data)  # the payment that paid it, reported again
    assert len(refund_requests(client.application)) == 1 and len(_unwanted(client.application)) == 1


def test_the_refund_of_an_unwanted_payment_leaves_the_invoice_alone(client, incomplete):
    user, h, sub, inv = incomplete
    paid = payment_data(inv, user_id=user.id)
    send_event(client, "payment.succeeded", paid)
    r = _refund(client, inv, user.id, 2900)  # a refund of another transaction than the one that paid
    assert r.status_code == 200 and r.json["processed"] is False
    invoice = _invoice(client.application, inv["id"])
    assert (invoice.status, invoice.amount_paid_cents, invoice.amount_refunded_cents) == ("paid", 2900, 0)
    assert _refund(client, inv, user.id, 2900, transaction_id=paid["transaction_id"]).json["processed"] is True
    assert _invoice(client.application, inv["id"]).amount_refunded_cents == 2900


def test_paying_method_is_saved_for_renewals(client, incomplete):
    user, h, sub, inv = incomplete
    method = str(uuid.uuid4())
    pay(client, inv, user.id, payment_method_id=method)
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["payment_method_id"] == method


def _refund(client, inv, user_id, total, **extra):
    data = {"refund_id": str(uuid.uuid4()), "transaction_id": str(uuid.uuid4()), "user_id": user_id,
            "invoice_id": inv["id"], "amount_cents": total, "currency": "USD", "refunded_total_cents": total,
            **extra}
    return send_event(client, "refund.succeeded", data)


def test_refunds_are_recorded_once_per_refund_and_a_kept_full_refund_keeps(client, incomplete):
    user, h, sub, inv = incomplete
    txn = payment_data(inv, user_id=user.id)["transaction_id"]
    pay(client, inv, user.id, transaction_id=txn)
    first = {"refund_id": str(uuid.uuid4()), "transaction_id": txn}
    assert _refund(client, inv, user.id, 1000, **first).json["processed"] is True
    assert _invoice(client.application, inv["id"]).amount_refunded_cents == 1000
    rest = _refund(client, inv, user.id, 1900, transaction_id=txn, refunded_total_cents=2900, keep_subscription=True)
    assert rest.json["processed"] is True
    assert _refund(client, inv, user.id, 1000, **first).json["processed"] is False  # the same refund, new event id
    invoice = _invoice(client.application, inv["id"])
    assert invoice.amount_refunded_cents == 2900 and invoice.status == "paid"
    assert _status(client, h, sub) == "active"
    failed = send_event(client, "refund.failed", {"refund_id": "r", "transaction_id": str(uuid.uuid4()),
                                                  "user_id": user.id, "invoice_id": inv["id"], "amount_cents": 5,
                                                  "currency": "USD", "refunded_total_cents": 2900})
    assert failed.status_code == 200 and failed.json["processed"] is False


def test_concurrent_redeliveries_apply_once(app, incomplete):
    import threading
    user, h, sub, inv = incomplete
    event_id, data = str(uuid.uuid4()), payment_data(inv, user_id=user.id)
    results, barrier = [], threading.Barrier(4)

    def go():
        c = app.test_client()
        barrier.wait()
        results.append(send_event(c, "payment.succeeded", data, event_id=event_id).json["processed"])

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    with app.app_context():
        assert db.session.get(Invoice, uuid.UUID(inv["id"])).amount_paid_cents == 2900
        assert db.session.get(Subscription, uuid.UUID(sub["id"])).status == "active"


def test_refund_outcomes_of_an_unwanted_payment_of_an_unknown_invoice(client, app, caplog):
    """Its refund.succeeded is expected (INFO, not an ERROR about a mismatch); its refund.failed means
    the money is still held: an ERROR naming the payment."""
    data = {"transaction_id": str(uuid.uuid4()), "user_id": 1, "invoice_id": str(uuid.uuid4()),
            "amount_cents": 100, "currency": "USD"}
    send_event(client, "payment.succeeded", data)
    outcome = {**data, "refund_id": str(uuid.uuid4()), "refunded_total_cents": 100}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="subscription_app.billing"):
        assert send_event(client, "refund.succeeded", outcome).json["processed"] is False
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "unwanted payment" in caplog.text and "invoice_unknown" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="subscription_app.billing"):
        failed = send_event(client, "refund.failed", {**outcome, "refund_id": str(uuid.uuid4()),
                                                      "refunded_total_cents": 0, "failure_reason": "declined"})
    assert failed.status_code == 200 and failed.json["processed"] is False
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert data["transaction_id"] in error.getMessage() and "not given back" in error.getMessage()
