"""POST /v1/webhooks/gateway: signatures (401, no effect), redelivery no-op, unknown rows, final states,
the gateway's idempotency (a retried job never charges twice)."""
import json
import time
import uuid

import pytest

from core.extensions import db
from core.http import encode
from core.security import signature_headers
from jobs.context import service_context
from payment_app import payments as payment_service, resubmit
from payment_app.models import MockGatewayRequest, PaymentInbox
from tests.support.payment_fixtures import SUCCESS_CARD, gateway_event, post_gateway_event

pytestmark = [pytest.mark.payment, pytest.mark.security]


def _pending(pay, user, headers, amount=700):
    """A pending invoice payment (its outcome is announced to the subscription service)."""
    return pay.pay_invoice(user.id, headers, SUCCESS_CARD, amount_due_cents=amount).json["id"]


def _submit_charge(txn_id):
    """What the worker runs for the charge job: the service function, in the payment app's context."""
    with service_context("payment"):
        return payment_service.submit_to_gateway(txn_id)


def _resubmit_stuck():
    with service_context("payment"):
        return resubmit.resubmit_stuck()


def test_signed_event_settles_the_transaction_once(pay, make_user):
    user, h = make_user()
    txn_id = _pending(pay, user, h)
    envelope = gateway_event(txn_id)
    first = post_gateway_event(pay, envelope)
    assert first.status_code == 200 and first.json == {"received": True, "processed": True}
    again = post_gateway_event(pay, envelope)
    assert again.status_code == 200 and again.json["processed"] is False and again.json["duplicate"] is True
    assert pay.transaction(h, txn_id).json["status"] == "succeeded"
    pay.drain()  # the real gateway answer arrives too: already settled, nothing changes
    assert len(pay.events()) == 1 and pay.events()[0]["type"] == "payment.succeeded"


def test_a_final_state_never_moves_back(pay, make_user):
    user, h = make_user()
    txn_id = _pending(pay, user, h)
    assert post_gateway_event(pay, gateway_event(txn_id, "failed")).json["processed"] is True
    later = post_gateway_event(pay, gateway_event(txn_id, "succeeded"))
    assert later.status_code == 200 and later.json["processed"] is False
    txn = pay.transaction(h, txn_id).json
    assert txn["status"] == "failed" and txn["failure_reason"] == "card_declined"


@pytest.mark.parametrize("case", ["missing", "bad", "wrong_secret", "stale", "future", "malformed", "tampered"])
def test_bad_signatures_are_401_with_no_effect(pay, make_user, case):
    user, h = make_user()
    txn_id = _pending(pay, user, h)
    envelope = gateway_event(txn_id)
    raw = encode(envelope)
    good = signature_headers(pay.app.config["SETTINGS"].webhook_signing_secret, raw)
    kwargs = {
        "missing": {"headers": {}},
        "bad": {"headers": {**good, "X-Webhook-Signature": "sha256=" + "0" * 64}},
        "wrong_secret": {"secret": "another-secret-of-sufficient-length-000"},
        "stale": {"timestamp": int(time.time()) - 301},
        "future": {"timestamp": int(time.time()) + 301},
        "malformed": {"headers": {**good, "X-Webhook-Signature": good["X-Webhook-Signature"][7:]}},
        "tampered": {"headers": good, "body": raw.replace(b"succeeded", b"failed\x20\x20\x20")},
    }[case]
    r = post_gateway_event(pay, envelope, **kwargs)
    assert r.status_code == 401
    assert pay.transaction(h, txn_id).json["status"] == "pending"
    with pay.app.app_context():
        assert db.session.query(PaymentInbox).count() == 0


def test_any_configured_secret_verifies_during_rotation(pay, make_user):
    user, h = make_user()
    txn_id = _pending(pay, user, h)
    settings = pay.app.config["SETTINGS"]
    pay.app.config["SETTINGS"] = settings.with_overrides(
        webhook_signing_secrets=("new-secret-of-sufficient-length-0000000", *settings.webhook_signing_secrets))
    old_secret = settings.webhook_signing_secrets[0]
    r = post_gateway_event(pay, gateway_event(txn_id), secret=old_secret)
    assert r.status_code == 200 and pay.transaction(h, txn_id).json["status"] == "succeeded"


def test_oversized_gateway_fields_are_bounded_not_a_500(pay, make_user):
    user, h = make_user()
    txn_id = _pending(pay, user, h)
    envelope = gateway_event(txn_id, "failed")
    envelope["data"].update(failure_reason="x" * 5000, gateway_id="g" * 500)
    assert post_gateway_event(pay, envelope).status_code == 200
    assert len(pay.transaction(h, txn_id).json["failure_reason"]) == 255


def test_an_answer_for_another_amount_is_refused(pay, make_user):
    user, h = make_user()
    txn_id = _pending(pay, user, h)
    envelope = gateway_event(txn_id)
    envelope["data"]["amount_cents"] = 1
    assert post_gateway_event(pay, envelope).status_code == 422
    assert pay.transaction(h, txn_id).json["status"] == "pending"


def test_unknown_transaction_is_404_and_not_recorded(pay):
    for txn_id in (uuid.uuid4(), "test-txn"):
        r = post_gateway_event(pay, gateway_event(txn_id))
        assert r.status_code == 404
    with pay.app.app_context():
        assert db.session.query(PaymentInbox).count() == 0


def test_event_without_type_is_recorded_and_acknowledged(pay):
    r = post_gateway_event(pay, {"event_id": "test123", "status": "success"})
    assert r.status_code == 200 and r.json == {"received": True, "processed": False}
    assert post_gateway_event(pay, {"event_id": "test123", "status": "success"}).json["duplicate"] is True


def test_malformed_json_is_4xx(pay):
    assert post_gateway_event(pay, None, body=b"{not json").status_code in (400, 422)
    assert post_gateway_event(pay, None, body=json.dumps({"type": "charge.succeeded"}).encode()).status_code == 422


def test_a_retried_charge_job_never_charges_twice(pay, make_user):
    user, h = make_user()
    txn_id = _pending(pay, user, h)
    for _ in range(3):  # the job ran, and ran again (a worker died before acknowledging, say)
        _submit_charge(txn_id)
    pay.drain()
    assert pay.gateway_count() == 1 and len(pay.events()) == 1
    _submit_charge(txn_id)  # after settlement: nothing
    assert pay.gateway_count() == 1


def test_lost_gateway_answer_is_sent_again_by_the_sweeper(pay, make_user, redis_conn):
    user, h = make_user()
    txn_id = _pending(pay, user, h)
    _submit_charge(txn_id)
    redis_conn.flushdb()  # Redis lost every queued job, the gateway's answer with them
    with pay.app.app_context():
        db.session.execute(MockGatewayRequest.__table__.update().values(
            created_at=MockGatewayRequest.created_at - db.text("interval '1 hour'")))
        db.session.commit()
    assert _resubmit_stuck()["gateway_answers"] == 1
    pay.drain()
    assert pay.transaction(h, txn_id).json["status"] == "succeeded"
    assert _resubmit_stuck()["gateway_answers"] == 0


def test_redis_down_when_enqueuing_still_answers_202_and_the_sweeper_submits(pay, make_user, payment_app):
    """Redis fails between the commit and the enqueue (the service layer, past auth, which needs Redis too)."""
    import redis as redis_lib

    from core import cards
    from payment_app import payments
    user, h = make_user()
    card, _ = cards.validate_card(SUCCESS_CARD["number"], 12, 2099, "123")
    live = payment_app.extensions["redis"]
    with payment_app.app_context():
        payment_app.extensions["redis"] = redis_lib.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)
        try:
            txn = payments.process_payment(user.id, {"amount_cents": 700, "currency": "USD", "card": card})
            db.session.commit()  # the caller commits (the view's decorator); the enqueue follows it
        finally:
            payment_app.extensions["redis"] = live
        txn_id = str(txn.id)
    assert pay.transaction(h, txn_id).json["status"] == "pending"
    pay.drain()
    assert pay.gateway_count() == 0  # the job was never queued
    with pay.app.app_context():
        db.session.execute(db.text("UPDATE transactions SET created_at = created_at - interval '1 minute'"))
        db.session.commit()
    assert _resubmit_stuck()["charges"] == 1
    pay.drain()
    assert pay.transaction(h, txn_id).json["status"] == "succeeded" and pay.gateway_count() == 1
