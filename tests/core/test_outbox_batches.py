"""The charge requests due go in one signed call to /charges/batch: one drain job takes those of a bill-run
batch, or of every POST committed while it waited in the queue.

Both real services in-process; only the gateway's randomness and the clock are controlled."""
import json
import uuid
from datetime import timedelta

import pytest
import requests

from core import clock, outbox, outbox_batch
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
    assert job.func_name == "subscription_app.outbox.drain" and job.args == ("payment_charges",)
    drain(redis_conn)
    for h, sub_id in subs:
        invoices = client.get("/v1/invoices", headers=h).json["items"]
        assert sorted((i["reason"], i["status"]) for i in invoices) == [("subscription_create", "paid"),
                                                                        ("subscription_cycle", "paid")]
        assert client.get(f"/v1/subscriptions/{sub_id}", headers=h).json["status"] == "active"
    with app.app_context():
        assert db.session.query(SubscriptionOutbox).filter(SubscriptionOutbox.delivered_at.is_(None)).count() == 0
        assert db.session.query(Transaction).count() == 6  # one charge per invoice, nothing twice


def test_a_row_of_a_rolled_back_savepoint_is_left_out_of_the_batch(app, monkeypatch):
    with app.app_context():
        kept = [outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": n}).id for n in (1, 2)]
        with pytest.raises(ValueError), db.session.begin_nested():
            outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": 3})
            raise ValueError
        db.session.commit()
        [job] = get_queue(WEBHOOKS).jobs
        assert job.args == ("payment_charges",)
        sent = _answer_every_event(monkeypatch)
        assert outbox_batch.drain(SubscriptionOutbox, "payment_charges") == {"delivered": 2}
        assert sent == [[str(i) for i in kept]]


def _answer_every_event(monkeypatch) -> list:
    """The receiver stands in, with 202 for every event: the event ids of each call it got, in order (a lone
    event comes to the single-event endpoint, more to the batch one)."""
    sent = []

    class Answer:
        status_code = 200
        text = ""

        def __init__(self, ids):
            self.ids = ids

        def json(self):
            return {"results": [{"event_id": i, "status": 202} for i in self.ids]}

    def post(url, body, **kw):
        body = json.loads(body)
        sent.append([e["event_id"] for e in body["events"]] if "events" in body else [body["event_id"]])
        return Answer(sent[-1])

    monkeypatch.setattr(outbox_batch, "signed_post", post)
    monkeypatch.setattr(outbox, "signed_post", post)
    return sent


def test_rows_committed_while_a_drain_waits_go_with_it(app, monkeypatch):
    """Three requests, three commits: one drain job, one call; a commit after it started asks for another."""
    with app.app_context():
        ids = []
        for n in range(3):
            ids.append(str(outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": n}).id))
            db.session.commit()
        assert [(j.func_name, j.args) for j in get_queue(WEBHOOKS).jobs] == [
            ("subscription_app.outbox.drain", ("payment_charges",))]
        sent = _answer_every_event(monkeypatch)
        assert outbox_batch.drain(SubscriptionOutbox, "payment_charges") == {"delivered": 3}
        assert sent == [ids]
        get_queue(WEBHOOKS).empty()
        outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": 4})
        db.session.commit()
        assert len(get_queue(WEBHOOKS).jobs) == 1
        assert outbox_batch.drain(SubscriptionOutbox, "payment_charges") == {"delivered": 1}
        assert outbox_batch.drain(SubscriptionOutbox, "payment_charges") == {"skipped": 1}  # nothing left


def test_a_full_drain_asks_for_another_and_a_scheduled_retry_waits(app, monkeypatch):
    monkeypatch.setattr(outbox_batch, "BATCH_MAX_EVENTS", 2)
    with app.app_context():
        rows = [outbox.emit(SubscriptionOutbox, "charge.requested", "payment_charges", {"n": n}) for n in range(4)]
        rows[2].next_attempt_at = outbox.wall_now() + timedelta(seconds=1)  # written by a host whose clock runs ahead
        rows[3].attempts, rows[3].next_attempt_at = 1, outbox.wall_now() + timedelta(minutes=5)  # a retry held back
        db.session.commit()
        get_queue(WEBHOOKS).empty()
        sent = _answer_every_event(monkeypatch)
        assert outbox_batch.drain(SubscriptionOutbox, "payment_charges") == {"delivered": 2}
        [again] = get_queue(WEBHOOKS).jobs  # the batch was full: more may be due
        assert again.func_name == "subscription_app.outbox.drain"
        assert outbox_batch.drain(SubscriptionOutbox, "payment_charges") == {"delivered": 1}
        assert len(get_queue(WEBHOOKS).jobs) == 1  # not full: no third drain asked for
        assert [len(ids) for ids in sent] == [2, 1]
        assert db.session.get(SubscriptionOutbox, rows[3].id).delivered_at is None


def test_a_drain_killed_after_its_call_loses_nothing_and_charges_once(app, client, payment_app, seeded,
                                                                      redis_conn, approved, monkeypatch):
    """The payment service took the charges, then the worker died before the attempts committed: the rows are
    still due and unlocked, the next drain sends them again, and the receiver answers them as the same charges."""
    subs = []
    for i in range(2):
        r = client.post("/v1/auth/register", json={"email": f"killed{i}@example.com", "password": "password123"})
        h = {"Authorization": f"Bearer {r.json['access_token']}"}
        r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": CARD}, headers=h)
        subs.append((h, r.json["id"]))
    [job] = get_queue(WEBHOOKS, connection=redis_conn).jobs
    assert job.func_name == "subscription_app.outbox.drain"
    with app.app_context():
        def dies(*a, **kw):
            raise SystemExit("worker killed")

        with monkeypatch.context() as patch, pytest.raises(SystemExit):
            patch.setattr(db.session, "commit", dies)
            outbox_batch.drain(SubscriptionOutbox, "payment_charges")
        db.session.rollback()
        assert db.session.query(SubscriptionOutbox).filter(SubscriptionOutbox.delivered_at.is_(None)).count() == 2
        outbox.request_drain(SubscriptionOutbox, "payment_charges")  # what the sweep or the next commit does
    drain(redis_conn)
    for h, sub_id in subs:
        assert client.get(f"/v1/subscriptions/{sub_id}", headers=h).json["status"] == "active"
    with app.app_context():
        assert db.session.query(SubscriptionOutbox).filter(SubscriptionOutbox.delivered_at.is_(None)).count() == 0
    with payment_app.app_context():
        assert db.session.query(Transaction).count() == 2  # one charge per invoice: the resend was answered 200


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

        monkeypatch.setattr(outbox_batch, "signed_post", lambda url, body, **kw: Answer())
        assert outbox_batch.deliver_batch(SubscriptionOutbox, ids) == {"delivered": 1, "retry": 1}
        first, second = (db.session.get(SubscriptionOutbox, uuid.UUID(i)) for i in ids)
        assert first.delivered_at is not None and second.delivered_at is None
        assert second.attempts == 1 and "HTTP 409 in a batch of 2" in second.last_error
        # The retry goes through the single-event job, scheduled with the backoff.
        [retry] = get_queue(WEBHOOKS).scheduled_job_registry.get_job_ids()
        assert get_queue(WEBHOOKS).fetch_job(retry).args == (ids[1],)
        assert outbox_batch.deliver_batch(SubscriptionOutbox, ids) == {"skipped": 1, "retry": 1}  # the first is done

        def refused(url, body, **kw):
            raise requests.ConnectionError("refused")

        monkeypatch.setattr(outbox_batch, "signed_post", refused)
        assert outbox_batch.deliver_batch(SubscriptionOutbox, [ids[1]]) == {"retry": 1}
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
