"""The charge requests of one transaction (a bill-run batch) go in one signed call to /charges/batch.

Both real services in-process; only the gateway's randomness and the clock are controlled."""
import uuid
from datetime import timedelta

import pytest
import requests

from core import clock, outbox
from core.extensions import db
from core.queues import PAYMENTS, WEBHOOKS, get_queue
from payment_app import gateway
from payment_app.models import Transaction
from subscription_app.billing.renewals import run_cycle
from subscription_app.models import SubscriptionOutbox
from subscription_app.seed import PRO_MONTHLY_ID
from tests.support.payment_fixtures import drain, subscribers

pytestmark = [pytest.mark.subscription, pytest.mark.payment, pytest.mark.calendar]
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


@pytest.fixture
def approved(monkeypatch):
    monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0)
    yield
    clock.set_offset(0)


def test_one_bill_run_batch_is_one_delivery_job_and_every_renewal_is_paid(app, client, payment_client, seeded,
                                                                           redis_conn, approved):
    subs = subscribers(client, redis_conn, 3)
    clock.set_offset(timedelta(days=32).total_seconds())
    assert run_cycle()["renewed_or_ended"] == 3
    [job] = get_queue(WEBHOOKS, connection=redis_conn).jobs
    assert job.func_name == "subscription_app.outbox.deliver_batch" and len(job.args[0]) == 3
    drain(redis_conn)
    for h, sub_id in subs:
        invoices = client.get("/v1/invoices", headers=h).json["items"]
        assert sorted((i["reason"], i["status"]) for i in invoices) == [("subscription_create", "paid"),
                                                                        ("subscription_cycle", "paid")]
        assert client.get(f"/v1/subscriptions/{sub_id}", headers=h).json["status"] == "active"
    with app.app_context():
        assert db.session.query(SubscriptionOutbox).filter(SubscriptionOutbox.delivered_at.is_(None)).count() == 0
        assert db.session.query(Transaction).count() == 6  # one charge per invoice, nothing twice


def test_a_row_of_a_rolled_back_savepoint_is_left_out_of_the_batch(app):
    with app.app_context():
        kept = [outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": n}).id for n in (1, 2)]
        with pytest.raises(ValueError), db.session.begin_nested():
            outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": 3})
            raise ValueError
        db.session.commit()
    [job] = get_queue(WEBHOOKS).jobs
    assert job.args[0] == [str(i) for i in kept]


def test_events_the_batch_did_not_settle_retry_one_by_one(app, monkeypatch):
    """The receiver accepts the first event and answers 409 for the second: only the second retries."""
    with app.app_context():
        rows = [outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": n}) for n in (1, 2)]
        db.session.commit()
        ids = [str(r.id) for r in rows]
        get_queue(WEBHOOKS).empty()

        class Answer:
            status_code = 200
            text = ""

            @staticmethod
            def json():
                return {"results": [{"event_id": ids[0], "status": 202}, {"event_id": ids[1], "status": 409}]}

        monkeypatch.setattr(outbox, "signed_post", lambda url, body, **kw: Answer())
        assert outbox.deliver_batch(SubscriptionOutbox, ids) == {"delivered": 1, "retry": 1}
        first, second = (db.session.get(SubscriptionOutbox, uuid.UUID(i)) for i in ids)
        assert first.delivered_at is not None and second.delivered_at is None
        assert second.attempts == 1 and "HTTP 409 in a batch of 2" in second.last_error
        # The retry goes through the single-event job, scheduled with the backoff.
        [retry] = get_queue(WEBHOOKS).scheduled_job_registry.get_job_ids()
        assert get_queue(WEBHOOKS).fetch_job(retry).args == (ids[1],)
        assert outbox.deliver_batch(SubscriptionOutbox, ids) == {"skipped": 1, "retry": 1}  # the first is done

        def refused(url, body, **kw):
            raise requests.ConnectionError("refused")

        monkeypatch.setattr(outbox, "signed_post", refused)
        assert outbox.deliver_batch(SubscriptionOutbox, [ids[1]]) == {"retry": 1}
        db.session.refresh(second)
        assert second.attempts == 3 and second.last_error.startswith("ConnectionError")


def test_the_batch_receiver_answers_each_event_on_its_own(app, payment_client, service_headers):
    r = payment_client.post("/v1/payments/internal/payment-methods", headers=service_headers,
                            json={"user_id": 7, "card": CARD})
    method = r.json["id"]
    invoice = str(uuid.uuid4())
    good = {"event_id": str(uuid.uuid4()), "type": "charge.requested", "created_at": "2026-12-01T00:00:00+00:00",
            "data": {"idempotency_key": f"{invoice}:1", "user_id": 7, "invoice_id": invoice,
                     "subscription_id": str(uuid.uuid4()), "payment_method_id": method, "amount_cents": 2900,
                     "currency": "USD", "kind": "charge", "description": "Pro renewal"}}
    bad = {**good, "event_id": "evt-bad", "data": {**good["data"], "amount_cents": "lots"}}
    r = payment_client.post("/v1/payments/internal/charges/batch", headers=service_headers,
                            json={"events": [good, good, bad]})
    assert r.status_code == 200, r.json
    first, again, refused = r.json["results"]
    assert (first["status"], first["transaction_status"]) == (202, "pending")
    assert again["status"] == 200 and again["transaction_id"] == first["transaction_id"]  # deduped by event id
    assert refused == {"event_id": "evt-bad", "status": 422, "errors": {"data": {"amount_cents": ["Not a valid integer."]}}}
    [submit] = get_queue(PAYMENTS).jobs  # one gateway job for the batch's new charges
    assert submit.func_name == "payment_app.payments.submit_many" and submit.args == ([first["transaction_id"]],)
    for body, field in (({"events": []}, "events"), ({"events": [good] * 101}, "events"), ({}, "events")):
        r = payment_client.post("/v1/payments/internal/charges/batch", headers=service_headers, json=body)
        assert r.status_code == 422 and field in r.json["errors"]["json"], r.json
    assert payment_client.post("/v1/payments/internal/charges/batch", json={"events": [good]}).status_code == 403
