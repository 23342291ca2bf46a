"""A gateway answer that never arrived (issue #13): the sweeper asks the gateway by idempotency key.

The gateway approved (or declined) the request, but its webhook job was lost: Redis dropped it,
or the RQ worker holding it was SIGKILLed and RQ's scheduler (which releases delayed jobs) is
locked out for a minute. `resubmit_stuck` must settle the row from the gateway's own record,
without any queued job running, and the webhook arriving later must change nothing.
"""
import pytest
from sqlalchemy import text

from core.extensions import db
from core.http import encode
from core.security import signature_headers
from payment_app import gateway, payments, refunds, resubmit
from payment_app.models import MockGatewayRequest, Refund
from tests.support.payment_fixtures import DECLINE_CARD, SUCCESS_CARD

pytestmark = pytest.mark.payment
ONE_OFF = {"amount_cents": 2900, "currency": "USD", "description": "lost answer"}


def _age(pay, table: str) -> None:
    with pay.app.app_context():
        db.session.execute(text(f"UPDATE {table} SET created_at = created_at - interval '1 hour'"))
        db.session.commit()


def _in_app(pay, job, *args):
    """Run a payment-service job as the worker does: inside the payment app."""
    with pay.app.app_context():
        return job(*args)


def _answered_at_gateway_but_lost(pay, job, row_id: str, table: str) -> None:
    """The job asked the gateway, then every queued job (its delayed answer too) was lost."""
    pay.redis.flushdb()
    _in_app(pay, job, row_id)
    pay.redis.flushdb()
    _age(pay, table)


def _redeliver(pay, request_id: str):
    """The gateway's original webhook, arriving after the sweeper settled the row."""
    with pay.app.app_context():
        raw = encode(gateway.answer_event(db.session.get(MockGatewayRequest, request_id)))
    secret = pay.app.config["SETTINGS"].webhook_signing_secret
    return pay.client.post("/v1/webhooks/gateway", data=raw,
                           headers={"Content-Type": "application/json", **signature_headers(secret, raw)})


@pytest.mark.parametrize("approved, status", [(True, "succeeded"), (False, "failed")])
def test_a_charge_whose_answer_was_lost_is_settled_from_the_gateway_record(pay, make_user, approved, status):
    user, h = make_user()
    pay.approve(approved)
    txn_id = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}).json["id"]
    _answered_at_gateway_but_lost(pay, payments.submit_to_gateway, txn_id, "transactions")
    report = _in_app(pay, resubmit.resubmit_stuck)
    assert report["settled"] == 1 and report["charges"] == 0  # nothing resubmitted: the gateway saw it
    txn = pay.transaction(h, txn_id).json
    assert txn["status"] == status
    assert txn["failure_reason"] == (None if approved else "card_declined")
    with pay.app.app_context():
        request_id = db.session.scalar(db.select(MockGatewayRequest.id))
    late = _redeliver(pay, request_id)
    assert late.status_code == 200 and late.json["processed"] is False
    assert _in_app(pay, resubmit.resubmit_stuck)["settled"] == 0
    assert pay.gateway_count("charge") == 1


def test_a_declined_card_whose_answer_was_lost_fails_once(pay, make_user):
    user, h = make_user()
    txn_id = pay.process(h, {**ONE_OFF, "card": DECLINE_CARD}).json["id"]
    _answered_at_gateway_but_lost(pay, payments.submit_to_gateway, txn_id, "transactions")
    assert _in_app(pay, resubmit.resubmit_stuck)["settled"] == 1
    assert pay.transaction(h, txn_id).json["status"] == "failed"


def test_a_refund_whose_answer_was_lost_is_settled_from_the_gateway_record(pay, make_user):
    user, h = make_user()
    txn_id = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}).json["id"]
    pay.drain()
    refund = pay.client.post(f"/v1/payments/refund/{txn_id}", json={"amount_cents": 1000}, headers=h)
    assert refund.status_code == 202, refund.json
    _answered_at_gateway_but_lost(pay, refunds.submit_to_gateway, refund.json["id"], "refunds")
    assert _in_app(pay, resubmit.resubmit_stuck)["settled"] == 1
    txn = pay.transaction(h, txn_id).json
    assert txn["status"] == "partially_refunded" and txn["refunded_cents"] == 1000
    with pay.app.app_context():
        assert db.session.get(Refund, refund.json["id"]).status == "succeeded"
    pay.drain()
    assert pay.gateway_count("refund") == 1


def test_a_charge_the_gateway_never_saw_is_submitted_not_settled(pay, make_user):
    user, h = make_user()
    txn_id = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}).json["id"]
    pay.redis.flushdb()  # the charge job itself was lost
    _age(pay, "transactions")
    report = _in_app(pay, resubmit.resubmit_stuck)
    assert (report["charges"], report["settled"]) == (1, 0)
    assert pay.transaction(h, txn_id).json["status"] == "pending"
    pay.drain()
    assert pay.transaction(h, txn_id).json["status"] == "succeeded" and pay.gateway_count("charge") == 1


def test_a_recent_pending_charge_is_left_to_its_webhook(pay, make_user):
    user, h = make_user()
    txn_id = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}).json["id"]
    pay.redis.flushdb()
    _in_app(pay, payments.submit_to_gateway, txn_id)
    assert _in_app(pay, resubmit.resubmit_stuck)["settled"] == 0
    assert pay.transaction(h, txn_id).json["status"] == "pending"
