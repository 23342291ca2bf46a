"""A bill-run batch's answers travel in batches too: the mock gateway answers the charges due at the same
second in one delayed webhook (/v1/webhooks/gateway/batch), the payment service applies them in one
transaction, and the payment outcomes it writes reach the subscription service in one signed call
(/v1/webhooks/payment/batch). Each event keeps its own outcome and is retried alone.

Both real services in-process; only the gateway's randomness and the clock are controlled."""
import json
import uuid
from datetime import timedelta

import pytest
import requests

from core import clock, outbox, queues
from core.extensions import db
from core.http import encode
from core.queues import WEBHOOKS, get_queue
from core.security import signature_headers
from payment_app import gateway
from payment_app.models import MockGatewayRequest, PaymentOutbox, Transaction
from subscription_app.billing.renewals import run_cycle
from subscription_app.models import Invoice, SubscriptionInbox
from tests.support.payment_fixtures import drain, pending_charges, subscribers

pytestmark = [pytest.mark.subscription, pytest.mark.payment, pytest.mark.calendar]


@pytest.fixture
def enqueued(monkeypatch):
    """The dotted name of every job enqueued, in order."""
    names = []
    real = queues._enqueue

    def recording(queue_name, func, args, kwargs, delay):
        names.append(func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}")
        return real(queue_name, func, args, kwargs, delay)

    monkeypatch.setattr(queues, "_enqueue", recording)
    return names


@pytest.fixture
def fraction(app, monkeypatch):
    """The gateway's randomness, one value per draw from the list (then its last value)."""
    values = [0.0]
    monkeypatch.setattr(gateway, "random_fraction", lambda: values.pop(0) if len(values) > 1 else values[0])
    yield values
    clock.set_offset(0)


def _signed(settings, body: dict) -> tuple[bytes, dict]:
    raw = encode(body)
    return raw, {**signature_headers(settings.webhook_signing_secret, raw), "Content-Type": "application/json"}


def test_a_batch_is_answered_in_one_gateway_webhook_and_one_result_delivery(app, client, payment_app, seeded,
                                                                            redis_conn, fraction, enqueued):
    subs = subscribers(client, redis_conn, 3)
    clock.set_offset(timedelta(days=32).total_seconds())
    enqueued.clear()
    assert run_cycle()["renewed_or_ended"] == 3
    drain(redis_conn)
    # One job per step for the three renewals: the charge requests, the gateway, its answer, the results.
    assert [n.rsplit(".", 2)[-2:] for n in enqueued] == [
        ["outbox", "drain"], ["payments", "submit_many"], ["gateway", "send_answers"], ["outbox", "drain"]]
    for h, sub_id in subs:
        invoices = client.get("/v1/invoices", headers=h).json["items"]
        assert ("subscription_cycle", "paid") in [(i["reason"], i["status"]) for i in invoices]
    with payment_app.app_context():
        assert db.session.query(MockGatewayRequest).filter(MockGatewayRequest.answered_at.is_(None)).count() == 0
        assert db.session.query(PaymentOutbox).filter(PaymentOutbox.delivered_at.is_(None)).count() == 0


def test_charges_are_answered_at_their_own_delay_rounded_up_to_the_second(payment_app, settings, fraction,
                                                                           redis_conn, monkeypatch):
    """Delays of 1.0, 1.5, 2.25 and 1.9 s (1-3 s): three webhooks, at 1 s, 2 s (two charges) and 3 s."""
    monkeypatch.setitem(payment_app.config, "SETTINGS",
                        settings.with_overrides(gateway_min_delay_ms=1000, gateway_max_delay_ms=3000))
    fraction[:] = [0.0, 0.25, 0.625, 0.45]
    with payment_app.app_context():
        gateway.schedule_answers(["gw_a", "gw_b", "gw_c", "gw_d"])
    registry = get_queue(WEBHOOKS, redis_conn).scheduled_job_registry
    jobs = {tuple(get_queue(WEBHOOKS, redis_conn).fetch_job(i).args[0]): registry.get_expiration_time(
        get_queue(WEBHOOKS, redis_conn).fetch_job(i)) for i in registry.get_job_ids()}
    assert sorted(jobs) == [("gw_a",), ("gw_b", "gw_d"), ("gw_c",)]
    at = {k: v.timestamp() for k, v in jobs.items()}
    assert round(at[("gw_b", "gw_d")] - at[("gw_a",)]) == 1 and round(at[("gw_c",)] - at[("gw_a",)]) == 2
    assert all(get_queue(WEBHOOKS, redis_conn).fetch_job(i).func_name == "payment_app.gateway.send_answers"
               for i in registry.get_job_ids())


def _forget_scheduled(redis_conn) -> None:
    """Drop the answers the gateway scheduled: the test sends them itself."""
    registry = get_queue(WEBHOOKS, redis_conn).scheduled_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)


def test_the_gateway_batch_receiver_answers_each_event_on_its_own(payment_app, payment_client, service_headers,
                                                                  settings, fraction):
    ids = pending_charges(payment_app, payment_client, service_headers, 3)
    with payment_app.app_context():
        events = [gateway.answer_event(db.session.get(MockGatewayRequest, i)) for i in ids]
        db.session.rollback()
    wrong = json.loads(json.dumps(events[1]))
    wrong["data"]["amount_cents"] = 1
    unknown = {**events[2], "event_id": "evt_unknown", "data": {**events[2]["data"], "transaction_id": str(uuid.uuid4())}}
    raw, headers = _signed(settings, {"events": [events[0], events[0], wrong, unknown, {"type": "charge.succeeded"},
                                                 events[2]]})
    r = payment_client.post("/v1/webhooks/gateway/batch", data=raw, headers=headers)
    assert r.status_code == 200, r.json
    first, again, mismatch, missing, invalid, last = r.json["results"]
    assert (first["status"], first["processed"]) == (200, True)
    assert (again["status"], again["duplicate"]) == (200, True)
    assert (mismatch["status"], mismatch["event_id"]) == (422, events[1]["event_id"])
    assert missing["status"] == 404 and invalid["status"] == 422 and "event_id" in invalid["errors"]
    assert (last["status"], last["processed"]) == (200, True)
    with payment_app.app_context():
        statuses = [db.session.scalar(db.select(Transaction.status).where(Transaction.gateway_reference == i))
                    for i in ids]
        assert statuses == ["succeeded", "pending", "succeeded"]  # the mismatch left its charge alone
        # The two outcomes were written in one transaction: one drain job of their target carries both.
        [job] = [j for j in get_queue(WEBHOOKS).jobs if j.func_name == "payment_app.outbox.drain"]
        assert job.args == ("subscription_webhook",)
    for body in ({"events": []}, {"events": [events[0]] * 101}, {}):
        raw, headers = _signed(settings, body)
        r = payment_client.post("/v1/webhooks/gateway/batch", data=raw, headers=headers)
        assert r.status_code == 422 and "events" in r.json["errors"]["json"], r.json
    raw, _ = _signed(settings, {"events": [events[0]]})
    assert payment_client.post("/v1/webhooks/gateway/batch", data=raw,
                               headers={"Content-Type": "application/json"}).status_code == 401


def test_an_answer_the_batch_did_not_settle_is_sent_again_alone(payment_app, payment_client, service_headers,
                                                               fraction, monkeypatch, redis_conn):
    ids = pending_charges(payment_app, payment_client, service_headers, 2)
    _forget_scheduled(redis_conn)

    class Answer:
        status_code = 200

        @staticmethod
        def json():
            return {"results": [{"event_id": "evt_" + ids[0], "status": 200},
                                {"event_id": "evt_" + ids[1], "status": 503}]}

    monkeypatch.setattr(gateway, "signed_post", lambda url, body, **kw: Answer())
    with payment_app.app_context():
        assert gateway.send_answers(ids) == {"answered": 1, "retry": 1}
        answered = {i: db.session.get(MockGatewayRequest, i).answered_at for i in ids}
        assert answered[ids[0]] is not None and answered[ids[1]] is None
    [retry] = get_queue(WEBHOOKS, redis_conn).scheduled_job_registry.get_job_ids()
    job = get_queue(WEBHOOKS, redis_conn).fetch_job(retry)
    assert (job.func_name, job.args) == ("payment_app.gateway.send_answer", (ids[1],))

    def refused(url, body, **kw):
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(gateway, "signed_post", refused)
    with payment_app.app_context(), pytest.raises(requests.ConnectionError):
        gateway.send_answers(ids)  # the whole call failed: RQ retries the job (ANSWER_RETRY)

    class NoBatchRoute:  # a payment service without the batch endpoint: each answer goes alone
        status_code = 404

    _forget_scheduled(redis_conn)
    monkeypatch.setattr(gateway, "signed_post", lambda url, body, **kw: NoBatchRoute())
    with payment_app.app_context():
        assert gateway.send_answers(ids) == {"retry": 1}
        assert db.session.get(MockGatewayRequest, ids[1]).answered_at is None
    [retry] = get_queue(WEBHOOKS, redis_conn).scheduled_job_registry.get_job_ids()
    assert get_queue(WEBHOOKS, redis_conn).fetch_job(retry).args == (ids[1],)


def test_a_crash_after_the_batch_applied_loses_nothing_and_applies_nothing_twice(
        app, payment_app, payment_client, service_headers, settings, fraction, redis_conn, monkeypatch):
    """The answer job dies after the payment service committed: the answers stay unanswered, the payment
    sweep sends them again, and they are recorded duplicates; the results' delivery job was lost too
    (Redis refused it): the outbox sweep delivers them."""
    ids = pending_charges(payment_app, payment_client, service_headers, 2)
    _forget_scheduled(redis_conn)
    monkeypatch.setattr(outbox, "enqueue_now", lambda *a, **kw: None)  # the batch's delivery job is lost
    real_execute = db.session.execute

    def dies_marking_answered(statement, *a, **kw):
        if getattr(statement, "table", None) is MockGatewayRequest.__table__:
            raise SystemExit("worker killed")
        return real_execute(statement, *a, **kw)

    with payment_app.app_context():
        with monkeypatch.context() as patch, pytest.raises(SystemExit):
            patch.setattr(db.session, "execute", dies_marking_answered)
            gateway.send_answers(ids)
        db.session.rollback()
        assert db.session.query(MockGatewayRequest).filter(MockGatewayRequest.answered_at.is_(None)).count() == 2
        assert db.session.query(Transaction).filter_by(status="succeeded").count() == 2
        assert db.session.query(PaymentOutbox).filter(PaymentOutbox.delivered_at.is_(None)).count() == 2
        # Sent again (what resubmit_stuck does past the redelivery window): recorded duplicates.
        assert gateway.send_answers(ids) == {"answered": 2}
        assert db.session.query(Transaction).filter_by(status="succeeded").count() == 2
        assert db.session.query(PaymentOutbox).count() == 2  # no outcome written twice
        assert outbox.sweep(PaymentOutbox, grace_seconds=-60) == 2


def test_the_subscription_batch_receiver_answers_each_event_on_its_own(app, client, seeded, redis_conn, settings,
                                                                       fraction):
    [(h, sub_id)] = subscribers(client, redis_conn, 1)
    with app.app_context():
        invoice = db.session.scalar(db.select(Invoice).where(Invoice.subscription_id == uuid.UUID(sub_id)))
        user_id, invoice_id = invoice.user_id, str(invoice.id)
        db.session.rollback()
    failed = {"event_id": str(uuid.uuid4()), "type": "payment.failed", "created_at": "2026-12-01T00:00:00+00:00",
              "data": {"transaction_id": str(uuid.uuid4()), "user_id": user_id, "invoice_id": invoice_id,
                       "amount_cents": 2900, "currency": "USD", "failure_reason": "card_declined"}}
    bad = {**failed, "event_id": str(uuid.uuid4()), "data": {**failed["data"], "amount_cents": "lots"}}
    seed_style = {"event_id": "test123", "status": "success"}
    raw, headers = _signed(settings, {"events": [failed, failed, bad, seed_style, {"type": "payment.failed"}]})
    r = client.post("/v1/webhooks/payment/batch", data=raw, headers=headers)
    assert r.status_code == 200, r.json
    applied, again, invalid, untyped, no_id = r.json["results"]
    assert (applied["event_id"], applied["status"], applied["processed"]) == (failed["event_id"], 200, False)
    assert (again["status"], again["duplicate"]) == (200, True)
    assert invalid["status"] == 422 and "data" in invalid["errors"]["json"]
    assert (untyped["status"], untyped["processed"]) == (200, False)
    assert no_id["status"] == 400 and no_id["event_id"] is None
    with app.app_context():
        assert {e for (e,) in db.session.execute(db.select(SubscriptionInbox.event_id))} >= {failed["event_id"],
                                                                                             "test123"}
        assert bad["event_id"] not in {e for (e,) in db.session.execute(db.select(SubscriptionInbox.event_id))}
    for body in ({"events": []}, {"events": [failed] * 101}, {"events": "no"}, []):
        raw, headers = _signed(settings, body)
        r = client.post("/v1/webhooks/payment/batch", data=raw, headers=headers)
        assert r.status_code == 422 and "events" in r.json["errors"]["json"], r.json
    raw, _ = _signed(settings, {"events": [failed]})
    assert client.post("/v1/webhooks/payment/batch", data=raw,
                       headers={"Content-Type": "application/json"}).status_code == 401
