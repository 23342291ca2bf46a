"""Refunds: full, partial, bounds (counting pending ones), parallel requests, gateway refusal, events.

Invoice payments are refunded by an operator (`ops`, an admin); the customer only refunds one-off charges."""
import threading
import uuid

import pytest

from core.extensions import db
from payment_app.models import MockGatewayRequest, Refund
from tests.support.payment_fixtures import DECLINE_CARD, SUCCESS_CARD

pytestmark = pytest.mark.payment


def _paid(pay, headers, amount=5000, *, user_id):
    """A succeeded invoice payment (refund events are announced for invoice charges)."""
    txn = pay.pay_invoice(user_id, headers, SUCCESS_CARD, amount_due_cents=amount).json
    pay.drain()
    pay.sink.requests.clear()
    return txn["id"]


@pytest.fixture
def ops(make_user):
    return make_user("operator@example.com", role="admin")[1]


def _refund(pay, headers, txn_id, body=None, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return pay.client.post(f"/v1/payments/refund/{txn_id}", json=body or {}, headers={**headers, **extra})


def test_full_refund_by_default(pay, make_user, ops):
    user, h = make_user()
    txn_id = _paid(pay, h, user_id=user.id)
    r = _refund(pay, ops, txn_id, {"reason": "changed my mind"})
    assert r.status_code == 202 and r.json["status"] == "pending" and r.json["amount_cents"] == 5000
    assert r.json["subscription_effect"] == "canceled" and r.json["requested_by"].startswith("admin:")
    pay.drain()
    txn = pay.transaction(h, txn_id).json
    assert txn["status"] == "refunded" and txn["refunded_cents"] == 5000
    assert [(x["status"], x["reason"]) for x in txn["refunds"]] == [("succeeded", "changed my mind")]
    [event] = pay.events()
    assert event["type"] == "refund.succeeded"
    assert event["data"] == {"refund_id": r.json["id"], "transaction_id": txn_id, "user_id": user.id,
                             "invoice_id": txn["invoice_id"], "amount_cents": 5000, "currency": "USD",
                             "refunded_total_cents": 5000, "reason": "changed my mind",
                             "keep_subscription": False}
    assert _refund(pay, ops, txn_id).status_code == 409  # nothing left


def test_partial_refunds_add_up_to_the_charge_and_no_further(pay, make_user, ops):
    user, h = make_user()
    txn_id = _paid(pay, h, user_id=user.id)
    assert _refund(pay, ops, txn_id, {"amount_cents": 1500}).status_code == 202
    pay.drain()
    txn = pay.transaction(h, txn_id).json
    assert txn["status"] == "partially_refunded" and txn["refunded_cents"] == 1500
    over = _refund(pay, ops, txn_id, {"amount_cents": 3501})
    assert over.status_code == 422 and "3500" in over.json["errors"]["json"]["amount_cents"][0]
    assert _refund(pay, ops, txn_id, {"amount_cents": 2000}).status_code == 202
    # the pending 2000 counts: only 1500 is left to ask for
    assert _refund(pay, ops, txn_id, {"amount_cents": 1501}).status_code == 422
    rest = _refund(pay, ops, txn_id)
    assert rest.status_code == 202 and rest.json["amount_cents"] == 1500
    pay.drain()
    txn = pay.transaction(h, txn_id).json
    assert txn["status"] == "refunded" and txn["refunded_cents"] == 5000
    assert [e["data"]["refunded_total_cents"] for e in pay.events("refund.succeeded")] == [1500, 3500, 5000]


@pytest.mark.parametrize("body", [{"amount_cents": 0}, {"amount_cents": -1}, {"amount_cents": 1.5},
                                  {"amount_cents": 10}, {"status": "succeeded"}])
def test_bad_refund_bodies_are_422(pay, make_user, ops, body):
    user, h = make_user()
    txn_id = _paid(pay, h, amount=5, user_id=user.id)
    assert _refund(pay, ops, txn_id, body).status_code == 422
    with pay.app.app_context():
        assert db.session.query(Refund).count() == 0


def test_only_a_succeeded_charge_is_refundable(pay, make_user):
    _, h = make_user()
    failed = pay.process(h, {"amount_cents": 100, "currency": "USD", "card": DECLINE_CARD}).json["id"]
    pending = pay.process(h, {"amount_cents": 100, "currency": "USD", "card": SUCCESS_CARD}).json["id"]
    assert _refund(pay, h, pending).status_code == 409
    pay.drain()
    assert _refund(pay, h, failed).status_code == 409


def test_a_customer_refunding_their_invoice_payment_is_403_and_records_nothing(pay, make_user, ops):
    user, h = make_user()
    txn_id = _paid(pay, h, user_id=user.id)
    r = _refund(pay, h, txn_id, {"amount_cents": 100})
    assert r.status_code == 403 and "operator" in r.json["message"]
    with pay.app.app_context():
        assert db.session.query(Refund).count() == 0
    one_off = pay.process(h, {"amount_cents": 300, "currency": "USD", "card": SUCCESS_CARD}).json["id"]
    pay.drain()
    mine = _refund(pay, h, one_off)
    assert mine.status_code == 202 and mine.json["subscription_effect"] == "none"
    assert _refund(pay, ops, txn_id, {"amount_cents": 100}).status_code == 202  # an admin refunds anyone's


def test_refund_of_another_users_transaction_is_404(pay, make_user):
    user, a = make_user()
    _, b = make_user()
    txn_id = _paid(pay, a, user_id=user.id)
    assert _refund(pay, b, txn_id).status_code == 404
    assert _refund(pay, a, uuid.uuid4()).status_code == 404
    assert pay.transaction(a, txn_id).json["refunded_cents"] == 0


def test_parallel_refunds_never_exceed_the_charge(pay, make_user, ops):
    user, h = make_user()
    txn_id = _paid(pay, h, amount=5000, user_id=user.id)
    codes = []

    def go():
        r = pay.app.test_client().post(f"/v1/payments/refund/{txn_id}", json={"amount_cents": 2000}, headers=ops)
        codes.append(r.status_code)

    threads = [threading.Thread(target=go) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [202, 202] + [422] * 8
    pay.drain()
    txn = pay.transaction(h, txn_id).json
    assert txn["refunded_cents"] == 4000 and txn["status"] == "partially_refunded"
    assert pay.gateway_count("refund") == 2


def test_refund_refused_by_the_gateway_is_failed_and_announced(pay, make_user, ops):
    user, h = make_user()
    txn_id = _paid(pay, h, user_id=user.id)
    with pay.app.app_context():  # the gateway has lost track of the charge (a gateway-side refusal)
        db.session.query(MockGatewayRequest).filter_by(operation="charge").update({"approved": False})
        db.session.commit()
    refund = _refund(pay, ops, txn_id).json
    pay.drain()
    txn = pay.transaction(h, txn_id).json
    assert txn["status"] == "succeeded" and txn["refunded_cents"] == 0
    assert txn["refunds"][0]["status"] == "failed" and txn["refunds"][0]["failure_reason"] == "no_such_charge"
    [event] = pay.events()
    assert event["type"] == "refund.failed" and event["data"]["refund_id"] == refund["id"]
    assert event["data"]["refunded_total_cents"] == 0
    # the failed refund no longer counts: the whole amount can be asked for again
    assert _refund(pay, ops, txn_id).json["amount_cents"] == 5000
