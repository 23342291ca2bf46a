"""POST /v1/payments/internal/charges/batch: one transaction, a SAVEPOINT per charge, the invoices' locks first.

Real PostgreSQL and Redis; two batches run at once on threads. `app` (the subscription app) cleans the tables."""
import threading
import uuid

import pytest
from sqlalchemy import func, select

from core.extensions import db
from payment_app.models import PaymentInbox, Transaction
from tests.support.sql import recorded

pytestmark = pytest.mark.payment
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def _method(payment_client, service_headers, user_id=7) -> str:
    r = payment_client.post("/v1/payments/internal/payment-methods", headers=service_headers,
                            json={"user_id": user_id, "card": CARD})
    assert r.status_code == 201, r.json
    return r.json["id"]


def _event(method: str, invoice: str, attempt: int = 1, user_id: int = 7) -> dict:
    return {"event_id": str(uuid.uuid4()), "type": "charge.requested", "created_at": "2026-12-01T00:00:00+00:00",
            "data": {"idempotency_key": f"{invoice}:{attempt}", "user_id": user_id, "invoice_id": invoice,
                     "subscription_id": str(uuid.uuid4()), "payment_method_id": method, "amount_cents": 2900,
                     "currency": "USD", "kind": "charge", "description": "Pro renewal"}}


def _batch(client, service_headers, events):
    return client.post("/v1/payments/internal/charges/batch", headers=service_headers, json={"events": events})


def test_a_batch_commits_once_with_a_savepoint_per_charge(app, payment_app, payment_client, service_headers):
    method = _method(payment_client, service_headers)
    events = [_event(method, str(uuid.uuid4())) for _ in range(3)]
    with recorded(payment_app) as sent:
        r = _batch(payment_client, service_headers, events)
    assert r.status_code == 200 and [e["status"] for e in r.json["results"]] == [202] * 3, r.json
    assert sent.count("COMMIT") == 1
    assert sum(s.startswith("SAVEPOINT") for s in sent) == 3
    assert sum("pg_advisory_xact_lock" in s for s in sent) == 1  # the three invoices' locks in one statement
    with payment_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Transaction)) == 3


def test_a_refused_charge_is_rolled_back_alone(app, payment_app, payment_client, service_headers):
    """The second event asks to charge an invoice that has a charge in flight: a 409 for it, the others kept."""
    method = _method(payment_client, service_headers)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    events = [_event(method, first), _event(method, first, attempt=2), _event(method, second)]
    r = _batch(payment_client, service_headers, events)
    assert [e["status"] for e in r.json["results"]] == [202, 409, 202], r.json
    with payment_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Transaction)) == 2
        # The refused event's claim went with its SAVEPOINT: its retry is applied, not taken for a duplicate.
        assert db.session.get(PaymentInbox, events[1]["event_id"]) is None
        assert db.session.get(PaymentInbox, events[0]["event_id"]) is not None


def test_two_batches_over_the_same_invoices_at_once_neither_deadlock_nor_charge_twice(
        app, payment_app, payment_client, service_headers):
    """The second batch names the same 30 invoices in the opposite order, under other keys (a second
    attempt): locks taken in event order would deadlock; in key order one batch waits for the other."""
    method = _method(payment_client, service_headers)
    invoices = [str(uuid.uuid4()) for _ in range(30)]
    batches = [[_event(method, i) for i in invoices], [_event(method, i, attempt=2) for i in reversed(invoices)]]
    start, answers = threading.Barrier(2), [None, None]

    def send(n):
        client = payment_app.test_client()
        start.wait()
        answers[n] = _batch(client, service_headers, batches[n])

    threads = [threading.Thread(target=send, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status_code for a in answers] == [200, 200], [a.json for a in answers]
    by_invoice = {}
    for answer, events in zip(answers, batches):
        for event, result in zip(events, answer.json["results"]):
            by_invoice.setdefault(event["data"]["invoice_id"], []).append(result["status"])
    # Each invoice: one charge accepted, the other attempt told to come back later.
    assert all(sorted(statuses) == [202, 409] for statuses in by_invoice.values()), by_invoice
    with payment_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Transaction)) == 30
