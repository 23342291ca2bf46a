"""Outbox delivery (signed, retried, swept) and inbox dedupe, on real PostgreSQL and Redis."""
import json
from uuid import UUID

import pytest
from rq import SimpleWorker

from core import inbox, outbox
from core.extensions import db
from core.security import verify_signature
from core.queues import QUEUE_NAMES, WEBHOOKS, get_queue
from payment_app.models import PaymentInbox, PaymentOutbox
from tests.support.webhook_sink import Sink


@pytest.fixture
def sink(app, monkeypatch):
    s = Sink()
    monkeypatch.setitem(outbox.config_for(PaymentOutbox).targets, "subscription_webhook",
                        lambda: s.url + "/v1/webhooks/payment")
    yield s
    s.close()


def _drain(redis_conn):
    SimpleWorker([get_queue(n) for n in QUEUE_NAMES], connection=redis_conn).work(burst=True)


def test_event_is_enqueued_only_after_commit(payment_app, sink, redis_conn):
    with payment_app.app_context():
        outbox.emit(PaymentOutbox, "payment.succeeded", "subscription_webhook", {"amount_cents": 2900})
        assert get_queue(WEBHOOKS).count == 0
        db.session.rollback()
        assert get_queue(WEBHOOKS).count == 0 and db.session.query(PaymentOutbox).count() == 0
        row = outbox.emit(PaymentOutbox, "payment.succeeded", "subscription_webhook", {"amount_cents": 2900})
        db.session.commit()
        assert get_queue(WEBHOOKS).count == 1
        event_id = row.id
    _drain(redis_conn)
    assert len(sink.requests) == 1
    sent = sink.requests[0]
    envelope = json.loads(sent["body"])
    assert envelope["event_id"] == str(event_id) and envelope["data"] == {"amount_cents": 2900}
    verify_signature(payment_app.config["SETTINGS"].webhook_signing_secrets, sent["body"],
                     sent["headers"]["X-Webhook-Signature"], sent["headers"]["X-Webhook-Timestamp"], 300)
    with payment_app.app_context():
        assert db.session.get(PaymentOutbox, event_id).delivered_at is not None


def test_failed_delivery_is_retried_then_delivered_once(payment_app, sink, redis_conn):
    sink.status = 503
    with payment_app.app_context():
        payment_app.config["OUTBOX_BACKOFF_BASE_SECONDS"] = 0.0
        try:
            row = outbox.emit(PaymentOutbox, "payment.failed", "subscription_webhook", {})
            db.session.commit()
            assert outbox.deliver(PaymentOutbox, str(row.id)) == "retry"
            db.session.refresh(row)
            assert row.attempts == 1 and row.delivered_at is None and "503" in row.last_error
            sink.status = 200
            assert outbox.deliver(PaymentOutbox, str(row.id)) == "delivered"
            assert outbox.deliver(PaymentOutbox, str(row.id)) == "skipped"
        finally:
            payment_app.config.pop("OUTBOX_BACKOFF_BASE_SECONDS")
    assert len(sink.requests) == 2


def test_gives_up_after_max_attempts(payment_app, sink, monkeypatch):
    sink.status = 500
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 2)
    with payment_app.app_context():
        row = outbox.emit(PaymentOutbox, "payment.failed", "subscription_webhook", {})
        db.session.commit()
        assert outbox.deliver(PaymentOutbox, str(row.id)) == "retry"
        assert outbox.deliver(PaymentOutbox, str(row.id)) == "dead"
        db.session.refresh(row)
        assert row.dead_at is not None
        outbox.replay(PaymentOutbox, row.id)
        sink.status = 200
        assert outbox.deliver(PaymentOutbox, str(row.id)) == "delivered"


def test_sweeper_enqueues_what_redis_lost(payment_app, sink, redis_conn):
    from sqlalchemy import text
    with payment_app.app_context():
        row = outbox.emit(PaymentOutbox, "payment.succeeded", "subscription_webhook", {})
        db.session.commit()
        event_id = row.id
        redis_conn.flushdb()  # the enqueued delivery job is gone, as after a Redis loss
        db.session.execute(text("UPDATE pay_outbox_events SET next_attempt_at = now() - interval '1 minute'"))
        db.session.commit()
        assert outbox.sweep(PaymentOutbox) == 1
    _drain(redis_conn)
    assert len(sink.requests) == 1
    with payment_app.app_context():
        assert db.session.get(PaymentOutbox, event_id).delivered_at is not None
        assert outbox.sweep(PaymentOutbox) == 0


def test_unknown_target_is_refused(payment_app):
    with payment_app.app_context(), pytest.raises(ValueError):
        outbox.emit(PaymentOutbox, "x", "nowhere", {})


def test_inbox_claims_an_event_once(payment_app):
    with payment_app.app_context():
        assert inbox.claim(PaymentInbox, "evt_1", "gateway.charge") is True
        db.session.commit()
        assert inbox.claim(PaymentInbox, "evt_1", "gateway.charge") is False
        db.session.rollback()
        assert inbox.claim(PaymentInbox, "evt_2", "gateway.charge") is True
        db.session.rollback()  # the effect failed: the id is not kept either
        assert inbox.claim(PaymentInbox, "evt_2", "gateway.charge") is True


def test_delivery_carries_the_request_id_of_the_request_that_caused_it(payment_app, sink, redis_conn):
    from flask import g
    with payment_app.test_request_context("/x"):
        g.request_id = "req-outbox-1"
        outbox.emit(PaymentOutbox, "payment.succeeded", "subscription_webhook", {})
        db.session.commit()
    _drain(redis_conn)
    assert sink.requests[0]["headers"]["X-Request-ID"] == "req-outbox-1"


def test_flask_webhooks_replay_delivers_a_dead_event_again(app, payment_app, sink, redis_conn, monkeypatch):
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 1)
    sink.status = 500
    with payment_app.app_context():
        row = outbox.emit(PaymentOutbox, "payment.succeeded", "subscription_webhook", {})
        db.session.commit()
        event_id = str(row.id)
        assert outbox.deliver(PaymentOutbox, event_id) == "dead"
    runner = app.test_cli_runner()
    assert "EVENT_ID" in runner.invoke(args=["webhooks", "replay", "--help"]).output
    result = runner.invoke(args=["webhooks", "replay", event_id])
    assert result.exit_code == 0 and "payment.succeeded" in result.output and "payment service" in result.output
    sink.status = 200
    _drain(redis_conn)
    with payment_app.app_context():
        assert db.session.get(PaymentOutbox, UUID(event_id)).delivered_at is not None
    missing = runner.invoke(args=["webhooks", "replay", "00000000-0000-0000-0000-000000000000"])
    assert missing.exit_code != 0 and "no outbox event" in missing.output
    assert runner.invoke(args=["webhooks", "replay", "not-a-uuid"]).exit_code != 0


def test_a_refund_request_that_goes_dead_is_counted_and_listed_for_operators(app, monkeypatch):
    """The payment service refuses it (it does not know the transaction) until the outbox gives up: the
    dead request shows in /metrics and in `flask webhooks dead`, with the payment it was to give back."""
    import uuid

    from subscription_app.billing import invoices
    from subscription_app.models import SubscriptionOutbox
    from tests.support.metrics import scrape, value

    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 1)
    txn_id = str(uuid.uuid4())
    with app.app_context():
        assert invoices.request_refund({"transaction_id": txn_id, "user_id": 1, "invoice_id": str(uuid.uuid4()),
                                        "amount_cents": 2900, "currency": "USD"}, "invoice_unknown") is True
        event_id = str(db.session.query(SubscriptionOutbox.id).filter_by(event_type="refund.requested").scalar())
        db.session.commit()
        assert outbox.deliver(SubscriptionOutbox, event_id) == "dead"
    samples = scrape(app.test_client())
    assert value(samples, "billing_webhook_deliveries_total", event_type="refund.requested", outcome="dead") == 1
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["webhooks", "dead", "--type", "refund.requested"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == "1 dead outbox event(s) of type refund.requested"
    assert lines[1].startswith(f"{event_id}  subscription  refund.requested -> payment_refunds  attempts=1")
    assert f"transaction_id={txn_id} reason=invoice_unknown" in lines[1]
    assert "HTTP 404" in lines[2] and "Transaction not found" in lines[2]
    assert "flask webhooks replay" in lines[3]
    other = runner.invoke(args=["webhooks", "dead", "--type", "charge.requested"])
    assert other.exit_code == 0 and other.output.splitlines() == ["0 dead outbox event(s) of type charge.requested"]
    assert runner.invoke(args=["webhooks", "dead", "--limit", "0"]).exit_code != 0
