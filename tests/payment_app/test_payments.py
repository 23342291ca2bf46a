"""POST /v1/payments/process end to end: pending -> gateway (later, by signed webhook) -> final state,
outcome events to the subscription service, invoice lookups, ownership, mass assignment."""
import threading
import uuid

import pytest

from core.extensions import db
from payment_app.models import PaymentMethod, Transaction
from tests.support.payment_fixtures import DECLINE_CARD, SUCCESS_CARD

pytestmark = pytest.mark.payment
ONE_OFF = {"amount_cents": 1250, "currency": "EUR", "description": "Stickers"}


def test_one_off_charge_succeeds_without_an_event(pay, make_user):
    _, h = make_user()
    r = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD})
    assert r.status_code == 202, r.json
    txn = r.json
    assert txn["status"] == "pending" and txn["amount_cents"] == 1250 and txn["currency"] == "EUR"
    assert txn["card_brand"] == "visa" and txn["card_last4"] == "4242" and txn["invoice_id"] is None
    assert pay.gateway_count() == 0  # nothing was charged inside the web request
    pay.drain()
    done = pay.transaction(h, txn["id"]).json
    assert done["status"] == "succeeded" and done["failure_reason"] is None
    assert pay.gateway_count() == 1
    assert pay.events() == []  # no invoice: nothing for the subscription service to apply


def test_invoice_payment_succeeds_and_is_announced(pay, make_user):
    user, h = make_user()
    txn = pay.pay_invoice(user.id, h, SUCCESS_CARD, amount_due_cents=2900).json
    pay.drain()
    assert pay.transaction(h, txn["id"]).json["status"] == "succeeded"
    [event] = pay.events()
    assert event["type"] == "payment.succeeded"
    assert event["data"] == {"transaction_id": txn["id"], "user_id": user.id, "invoice_id": txn["invoice_id"],
                             "subscription_id": None, "payment_method_id": txn["payment_method_id"],
                             "amount_cents": 2900, "currency": "USD"}


def test_other_cards_are_declined(pay, make_user):
    user, h = make_user()
    txn = pay.pay_invoice(user.id, h, DECLINE_CARD).json
    pay.drain()
    done = pay.transaction(h, txn["id"]).json
    assert done["status"] == "failed" and done["failure_reason"] == "card_declined"
    [event] = pay.events()
    assert event["type"] == "payment.failed" and event["data"]["failure_reason"] == "card_declined"
    assert event["data"]["transaction_id"] == txn["id"] and event["data"]["amount_cents"] == 5000


def test_success_card_fails_when_the_random_draw_is_above_the_success_rate(pay, make_user):
    _, h = make_user()
    pay.approve(False)
    txn = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}).json
    pay.drain()
    assert pay.transaction(h, txn["id"]).json["status"] == "failed"


def test_saved_payment_method_can_be_charged_by_its_owner_only(pay, make_user):
    _, a = make_user()
    _, b = make_user()
    first = pay.process(a, {**ONE_OFF, "card": SUCCESS_CARD}).json
    method_id = first["payment_method_id"]
    again = pay.process(a, {**ONE_OFF, "payment_method_id": method_id})
    assert again.status_code == 202 and again.json["card_last4"] == "4242"
    assert pay.process(b, {**ONE_OFF, "payment_method_id": method_id}).status_code == 404
    assert pay.process(a, {**ONE_OFF, "payment_method_id": str(uuid.uuid4())}).status_code == 404
    pay.drain()
    assert [pay.transaction(a, t["id"]).json["status"] for t in (first, again.json)] == ["succeeded"] * 2


def test_card_errors_are_field_errors(pay, make_user):
    _, h = make_user()
    bad = {"number": "4242424242424241", "exp_month": 13, "exp_year": 2099, "cvc": "12"}
    r = pay.process(h, {**ONE_OFF, "card": bad})
    assert r.status_code == 422
    errors = r.json["errors"]["json"]["card"]
    assert set(errors) == {"number", "exp_month", "cvc"}
    assert "4242424241" not in r.get_data(as_text=True)
    with pay.app.app_context():
        assert db.session.query(Transaction).count() == 0


@pytest.mark.parametrize("body,field", [
    ({"amount_cents": 100, "currency": "USD"}, "card"),
    ({"amount_cents": 100, "currency": "USD", "card": SUCCESS_CARD, "payment_method_id": str(uuid.uuid4())},
     "card"),
    ({"card": SUCCESS_CARD}, "invoice_id"),
    ({"amount_cents": 100, "card": SUCCESS_CARD}, "currency"),
    ({"amount_cents": 0, "currency": "USD", "card": SUCCESS_CARD}, "amount_cents"),
    ({"amount_cents": -5, "currency": "USD", "card": SUCCESS_CARD}, "amount_cents"),
    ({"amount_cents": 10**12, "currency": "USD", "card": SUCCESS_CARD}, "amount_cents"),
    ({"amount_cents": 12.5, "currency": "USD", "card": SUCCESS_CARD}, "amount_cents"),
    ({"amount_cents": 100, "currency": "usd", "card": SUCCESS_CARD}, "currency"),
    ({"amount_cents": 100, "currency": "XYZ", "card": SUCCESS_CARD}, "currency"),
    ({"amount_cents": 100, "currency": "USD", "card": SUCCESS_CARD, "status": "succeeded"}, "status"),
    ({"amount_cents": 100, "currency": "USD", "card": SUCCESS_CARD, "user_id": 1}, "user_id"),
    ({"invoice_id": str(uuid.uuid4()), "amount_cents": 1, "card": SUCCESS_CARD}, "amount_cents"),
    ({"invoice_id": str(uuid.uuid4()), "currency": "USD", "card": SUCCESS_CARD}, "currency"),
    ({"invoice_id": str(uuid.uuid4()), "card": SUCCESS_CARD, "status": "paid"}, "status"),
])
def test_bad_bodies_are_422_with_no_effect(pay, make_user, body, field):
    _, h = make_user()
    r = pay.process(h, body)
    assert r.status_code == 422 and field in r.json["errors"]["json"], r.json
    with pay.app.app_context():
        assert db.session.query(Transaction).count() == 0
    assert not pay.subs.calls  # refused before asking anyone


def test_requires_a_user_token(pay, service_headers):
    assert pay.client.post("/v1/payments/process", json=ONE_OFF).status_code == 401
    assert pay.client.post("/v1/payments/process", json=ONE_OFF, headers=service_headers).status_code == 401


# --- invoices (asked of the stand-in subscription service) -----------------------------------------

def test_invoice_payment_charges_exactly_what_is_due(pay, make_user):
    user, h = make_user()
    invoice_id, sub_id = uuid.uuid4(), str(uuid.uuid4())
    pay.subs.add_invoice(invoice_id, user.id, amount_due_cents=2900, amount_paid_cents=900, currency="USD",
                         subscription_id=sub_id)
    r = pay.process(h, {"invoice_id": str(invoice_id), "card": SUCCESS_CARD})
    assert r.status_code == 202, r.json
    assert r.json["amount_cents"] == 2000 and r.json["invoice_id"] == str(invoice_id)
    assert pay.subs.calls[0]["headers"]["X-Service-Token"]
    pay.drain()
    [event] = pay.events("payment.succeeded")
    assert event["data"]["invoice_id"] == str(invoice_id) and event["data"]["subscription_id"] == sub_id
    assert event["data"]["amount_cents"] == 2000 and event["data"]["user_id"] == user.id
    # Paid here: a second attempt is refused even before the subscription service has marked it paid.
    assert pay.process(h, {"invoice_id": str(invoice_id), "card": SUCCESS_CARD}).status_code == 409


def test_unknown_or_foreign_invoice_is_404(pay, make_user):
    _, h = make_user()
    other, _ = make_user()
    foreign = uuid.uuid4()
    pay.subs.add_invoice(foreign, other.id)
    for invoice_id in (uuid.uuid4(), foreign):
        r = pay.process(h, {"invoice_id": str(invoice_id), "card": SUCCESS_CARD})
        assert r.status_code == 404
    with pay.app.app_context():
        assert db.session.query(Transaction).count() == 0 and db.session.query(PaymentMethod).count() == 0


@pytest.mark.parametrize("status", ["paid", "void", "draft"])
def test_invoice_not_open_is_409(pay, make_user, status):
    user, h = make_user()
    invoice_id = uuid.uuid4()
    pay.subs.add_invoice(invoice_id, user.id, status=status)
    assert pay.process(h, {"invoice_id": str(invoice_id), "card": SUCCESS_CARD}).status_code == 409


def test_subscription_service_down_is_503(pay, make_user):
    _, h = make_user()
    assert pay.client.get("/v1/payments/transactions", headers=h).status_code == 200  # token version cached
    pay.app.config["SETTINGS"] = pay.app.config["SETTINGS"].with_overrides(
        subscription_service_url="http://127.0.0.1:9")  # discard port: nothing listens
    r = pay.process(h, {"invoice_id": str(uuid.uuid4()), "card": SUCCESS_CARD})
    assert r.status_code == 503 and r.headers["Retry-After"]


def test_parallel_payments_of_one_invoice_charge_once(pay, make_user):
    user, h = make_user()
    invoice_id = uuid.uuid4()
    pay.subs.add_invoice(invoice_id, user.id)
    method = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}).json["payment_method_id"]
    codes = []

    def go():
        c = pay.app.test_client()
        codes.append(c.post("/v1/payments/process", headers=h,
                            json={"invoice_id": str(invoice_id), "payment_method_id": method}).status_code)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [202] + [409] * 7
    pay.drain()
    with pay.app.app_context():
        assert db.session.query(Transaction).filter_by(invoice_id=invoice_id).count() == 1
    assert pay.gateway_count() == 2  # the one-off charge and this invoice's single charge


# --- reading ---------------------------------------------------------------------------------------

def test_transactions_are_owner_only_and_paginated_newest_first(pay, make_user):
    _, a = make_user()
    _, b = make_user()
    ids = [pay.process(a, {**ONE_OFF, "amount_cents": 100 + i, "card": SUCCESS_CARD}).json["id"]
           for i in range(5)]
    other = pay.process(b, {**ONE_OFF, "card": SUCCESS_CARD}).json["id"]
    page1 = pay.client.get("/v1/payments/transactions?per_page=2", headers=a).json
    page3 = pay.client.get("/v1/payments/transactions?per_page=2&page=3", headers=a).json
    assert page1["meta"] == {"page": 1, "per_page": 2, "total": 5, "pages": 3}
    assert [t["id"] for t in page1["items"]] == ids[::-1][:2]
    assert [t["id"] for t in page3["items"]] == ids[:1]
    assert pay.transaction(a, other).status_code == 404
    assert pay.transaction(b, ids[0]).status_code == 404
    assert pay.transaction(a, uuid.uuid4()).status_code == 404
    assert pay.client.get("/v1/payments/transactions?per_page=500", headers=a).status_code == 422


def test_gateway_delay_holds_no_worker(pay, make_user, redis_conn):
    """The answers wait in RQ's ScheduledJobRegistry (RQ's scheduler releases them when due),
    not in a sleeping worker: a burst worker runs the charge jobs and returns at once."""
    from datetime import datetime, timedelta, timezone

    from rq.registry import ScheduledJobRegistry

    from core.queues import QUEUE_NAMES, WEBHOOKS, get_queue
    from jobs.worker import BillingWorker  # it runs each job in its service's app, as in production
    _, h = make_user()
    pay.app.config["SETTINGS"] = pay.app.config["SETTINGS"].with_overrides(gateway_min_delay_ms=30_000,
                                                                           gateway_max_delay_ms=60_000)
    ids = [pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}).json["id"] for _ in range(30)]
    before = datetime.now(timezone.utc)
    BillingWorker([get_queue(n, connection=redis_conn) for n in QUEUE_NAMES], connection=redis_conn).work(burst=True)
    registry = ScheduledJobRegistry(queue=get_queue(WEBHOOKS, connection=redis_conn))
    assert registry.count == 30 and pay.gateway_count() == 30
    due = [registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()]
    assert all(before + timedelta(seconds=29) < t <= before + timedelta(seconds=90) for t in due)
    assert {pay.transaction(h, i).json["status"] for i in ids} == {"pending"}
