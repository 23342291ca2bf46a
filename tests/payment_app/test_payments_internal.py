"""The internal API the subscription service calls: tokenise a card, charge.requested
(invoice charges and trial-card verification), deduped by event id and by idempotency key, and
refund.requested (an unwanted payment given back), deduped by request id."""
import threading
import uuid

import pytest

from core.extensions import db
from payment_app.models import MockGatewayRequest, Refund, Transaction
from tests.support.payment_fixtures import DECLINE_CARD, SUCCESS_CARD
from tests.support.sql import recorded

pytestmark = pytest.mark.payment


def _method(pay, service_headers, user_id, card=SUCCESS_CARD):
    r = pay.client.post("/v1/payments/internal/payment-methods", json={"user_id": user_id, "card": card},
                        headers=service_headers)
    assert r.status_code == 201, r.json
    return r.json


def _envelope(user_id, method_id, *, kind="charge", amount=2900, key=None, event_id=None, invoice_id=None,
              subscription_id=None):
    invoice_id = invoice_id or (str(uuid.uuid4()) if kind == "charge" else None)
    subscription_id = subscription_id or str(uuid.uuid4())
    return {"event_id": event_id or str(uuid.uuid4()), "type": "charge.requested",
            "created_at": "2026-11-26T04:00:00+00:00",
            "data": {"idempotency_key": key or (f"{invoice_id}:1" if kind == "charge" else f"verify:{subscription_id}"),
                     "user_id": user_id, "invoice_id": invoice_id, "subscription_id": subscription_id,
                     "payment_method_id": method_id, "amount_cents": amount if kind == "charge" else 0,
                     "currency": "USD", "kind": kind, "description": "Pro plan"}}


def _charge(pay, service_headers, envelope):
    return pay.client.post("/v1/payments/internal/charges", json=envelope, headers=service_headers)


def test_tokenise_answers_without_reading_the_new_method_back(pay, service_headers):
    """Two inserts and their commits: the answer is read before the commit, which would expire the row."""
    with recorded(pay.app) as sent:
        body = _method(pay, service_headers, 7)
    assert [s.split(" (")[0] for s in sent] == ["INSERT INTO mock_gateway_tokens", "COMMIT",
                                                  "INSERT INTO payment_methods", "COMMIT"]
    assert body["user_id"] == 7 and body["last4"] == "4242" and body["created_at"] and body["id"]


def test_tokenise_keeps_brand_last4_expiry_only(pay, service_headers):
    body = _method(pay, service_headers, 7)
    assert set(body) == {"id", "user_id", "brand", "last4", "exp_month", "exp_year", "created_at"}
    assert body["brand"] == "visa" and body["last4"] == "4242" and body["user_id"] == 7
    bad = pay.client.post("/v1/payments/internal/payment-methods", headers=service_headers,
                          json={"user_id": 7, "card": {**SUCCESS_CARD, "cvc": "1"}})
    assert bad.status_code == 422 and "cvc" in bad.json["errors"]["json"]["card"]


def test_internal_api_refuses_users_and_missing_tokens(pay, make_user):
    _, user_headers = make_user()
    for headers in ({}, user_headers, {"X-Service-Token": "wrong"}):
        r = pay.client.post("/v1/payments/internal/payment-methods", json={"user_id": 1, "card": SUCCESS_CARD},
                            headers=headers)
        assert r.status_code == 403
        assert _charge(pay, headers, _envelope(1, str(uuid.uuid4()))).status_code == 403


def test_charge_requested_is_charged_and_announced(pay, service_headers):
    method = _method(pay, service_headers, 7)
    envelope = _envelope(7, method["id"])
    r = _charge(pay, service_headers, envelope)
    assert r.status_code == 202 and r.json["status"] == "pending"
    pay.drain()
    [event] = pay.events()
    d = envelope["data"]
    assert event["type"] == "payment.succeeded"
    assert event["data"] == {"transaction_id": r.json["transaction_id"], "user_id": 7,
                             "invoice_id": d["invoice_id"], "subscription_id": d["subscription_id"],
                             "payment_method_id": method["id"], "amount_cents": 2900, "currency": "USD"}


def test_declined_saved_card_is_reported_failed(pay, service_headers):
    method = _method(pay, service_headers, 7, DECLINE_CARD)
    r = _charge(pay, service_headers, _envelope(7, method["id"]))
    pay.drain()
    [event] = pay.events()
    assert event["type"] == "payment.failed" and event["data"]["failure_reason"] == "card_declined"
    assert event["data"]["transaction_id"] == r.json["transaction_id"]


def test_redelivered_event_or_repeated_key_answers_200_with_the_same_transaction(pay, service_headers):
    method = _method(pay, service_headers, 7)
    envelope = _envelope(7, method["id"])
    first = _charge(pay, service_headers, envelope)
    again = _charge(pay, service_headers, envelope)                                   # same event id
    same_key = _charge(pay, service_headers, {**envelope, "event_id": str(uuid.uuid4())})  # same key
    assert first.status_code == 202 and again.status_code == same_key.status_code == 200
    assert first.json == again.json == same_key.json
    pay.drain()
    assert pay.gateway_count() == 1 and len(pay.events()) == 1
    # a dunning retry is a new attempt, hence a new key and a new charge
    retry = _charge(pay, service_headers, _envelope(7, method["id"], key=envelope["data"]["invoice_id"] + ":2"))
    assert retry.status_code == 202 and retry.json["transaction_id"] != first.json["transaction_id"]


def test_parallel_duplicates_create_one_transaction(pay, service_headers):
    method = _method(pay, service_headers, 7)
    envelope = _envelope(7, method["id"])
    codes = []

    def go(i):
        body = {**envelope, "event_id": str(uuid.uuid4())} if i % 2 else envelope
        codes.append(pay.app.test_client().post("/v1/payments/internal/charges", json=body,
                                                headers=service_headers).status_code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(202) == 1 and set(codes) <= {200, 202, 409}
    pay.drain()
    with pay.app.app_context():
        assert db.session.query(Transaction).count() == 1
    assert pay.gateway_count() == 1


def test_unknown_or_foreign_payment_method_fails_the_charge_with_an_event(pay, service_headers):
    other = _method(pay, service_headers, 8)
    for method_id in (str(uuid.uuid4()), other["id"]):
        r = _charge(pay, service_headers, _envelope(7, method_id))
        assert r.status_code == 202 and r.json["status"] == "failed"
    pay.drain()
    events = pay.events()
    assert [e["type"] for e in events] == ["payment.failed"] * 2
    assert {e["data"]["failure_reason"] for e in events} == {"payment_method_not_found"}
    assert pay.gateway_count() == 0


@pytest.mark.parametrize("change", [{"amount_cents": 0}, {"amount_cents": -1}, {"currency": "usd"},
                                    {"kind": "steal"}, {"user_id": "7"}, {"user_id": 2**64}])
def test_malformed_charge_request_is_422(pay, service_headers, change):
    envelope = _envelope(7, str(uuid.uuid4()))
    envelope["data"].update(change)
    assert _charge(pay, service_headers, envelope).status_code == 422


def test_verify_authorises_zero_then_voids(pay, service_headers):
    method = _method(pay, service_headers, 7)
    envelope = _envelope(7, method["id"], kind="verify")
    r = _charge(pay, service_headers, envelope)
    assert r.status_code == 202
    pay.drain()
    [event] = pay.events()
    assert event["type"] == "payment_method.verified"
    assert event["data"] == {"transaction_id": r.json["transaction_id"], "user_id": 7,
                             "subscription_id": envelope["data"]["subscription_id"],
                             "payment_method_id": method["id"]}
    with pay.app.app_context():
        ops = sorted((g.operation, g.amount_cents) for g in db.session.query(MockGatewayRequest))
        assert ops == [("authorise", 0), ("void", 0)]  # never a charge
        assert db.session.get(Transaction, uuid.UUID(r.json["transaction_id"])).status == "voided"


def test_verify_of_a_declined_card_fails(pay, service_headers):
    method = _method(pay, service_headers, 7, DECLINE_CARD)
    _charge(pay, service_headers, _envelope(7, method["id"], kind="verify"))
    pay.drain()
    [event] = pay.events()
    assert event["type"] == "payment_method.verification_failed"
    assert event["data"]["failure_reason"] == "card_declined"
    assert pay.gateway_count("void") == 0


def test_an_invoice_paid_by_process_is_not_charged_again_by_a_charge_request(pay, service_headers, make_user):
    user, h = make_user()
    paid = pay.pay_invoice(user.id, h, SUCCESS_CARD, amount_due_cents=2900).json
    method_id = paid["payment_method_id"]
    envelope = _envelope(user.id, method_id, invoice_id=paid["invoice_id"])
    in_flight = _charge(pay, service_headers, envelope)
    assert in_flight.status_code == 409  # a charge of this invoice is pending: the outbox retries later
    pay.drain()
    pay.sink.requests.clear()
    r = _charge(pay, service_headers, envelope)  # the retry, after the invoice was paid here
    assert r.status_code == 202 and r.json["status"] == "failed"
    pay.drain()
    [event] = pay.events()
    assert event["type"] == "payment.failed" and event["data"]["failure_reason"] == "invoice_already_paid"
    assert pay.gateway_count() == 1


def _settled_charge(pay, service_headers, user_id=7, card=SUCCESS_CARD):
    method = _method(pay, service_headers, user_id, card)
    r = _charge(pay, service_headers, _envelope(user_id, method["id"]))
    pay.drain()
    pay.sink.requests.clear()
    return r.json["transaction_id"]


def _refund_envelope(txn_id, request_id=None, event_id=None, **data):
    return {"event_id": event_id or str(uuid.uuid4()), "type": "refund.requested",
            "created_at": "2026-11-26T04:00:00+00:00",
            "data": {"request_id": request_id or f"unwanted-payment:{txn_id}", "transaction_id": txn_id,
                     "reason": "invoice_void", **data}}


def _ask_refund(pay, headers, envelope):
    return pay.client.post("/v1/payments/internal/refunds", json=envelope, headers=headers)


def test_requested_refund_is_made_once_per_request_id(pay, service_headers):
    txn_id = _settled_charge(pay, service_headers)
    envelope = _refund_envelope(txn_id)
    first = _ask_refund(pay, service_headers, envelope)
    again = _ask_refund(pay, service_headers, envelope)                                      # redelivery
    renamed = _ask_refund(pay, service_headers, {**envelope, "event_id": str(uuid.uuid4())})  # asked again
    assert first.status_code == 202 and again.status_code == renamed.status_code == 200
    assert first.json["outcome"] == "refund_requested"
    assert again.json["outcome"] == renamed.json["outcome"] == "already_requested"
    assert first.json["refund"] == again.json["refund"] == renamed.json["refund"]
    refund = first.json["refund"]
    assert (refund["amount_cents"], refund["status"], refund["reason"]) == (2900, "pending", "invoice_void")
    assert refund["user_id"] == 7 and refund["request_id"] == f"unwanted-payment:{txn_id}"
    assert first.json["transaction"] == {"id": txn_id, "status": "succeeded", "amount_cents": 2900,
                                         "refunded_cents": 0, "currency": "USD"}
    pay.drain()
    settled = _ask_refund(pay, service_headers, envelope).json  # settled: still the same refund
    assert settled["refund"]["id"] == refund["id"] and settled["refund"]["status"] == "succeeded"
    assert settled["transaction"]["status"] == "refunded"
    with pay.app.app_context():
        assert db.session.query(Refund).count() == 1
        txn = db.session.get(Transaction, uuid.UUID(txn_id))
        assert (txn.status, txn.refunded_cents) == ("refunded", 2900)
    assert pay.gateway_count("refund") == 1
    [event] = pay.events()
    assert event["type"] == "refund.succeeded" and event["data"]["transaction_id"] == txn_id


def test_parallel_refund_requests_make_one_refund(pay, service_headers):
    txn_id = _settled_charge(pay, service_headers)
    codes = []

    def go(i):
        envelope = _refund_envelope(txn_id, amount_cents=100)
        codes.append(pay.app.test_client().post("/v1/payments/internal/refunds", json=envelope,
                                                headers=service_headers).status_code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 7 + [202]
    with pay.app.app_context():
        assert [r.amount_cents for r in db.session.query(Refund)] == [100]


def test_requested_refund_goes_to_the_transactions_owner_and_a_given_amount(pay, service_headers):
    txn_id = _settled_charge(pay, service_headers, user_id=7)
    envelope = _refund_envelope(txn_id, amount_cents=900)
    envelope["data"]["user_id"] = 8  # not ours to say: ignored
    r = _ask_refund(pay, service_headers, envelope)
    assert r.status_code == 202 and (r.json["refund"]["user_id"], r.json["refund"]["amount_cents"]) == (7, 900)
    # another request id is another refund, within what is left
    over = _ask_refund(pay, service_headers, _refund_envelope(txn_id, request_id="other", amount_cents=2001))
    assert over.status_code == 422 and "amount_cents" in over.json["errors"]["json"]


def test_requested_refund_of_anything_but_a_settled_charge_is_refused(pay, service_headers):
    failed = _settled_charge(pay, service_headers, card=DECLINE_CARD)
    r = _ask_refund(pay, service_headers, _refund_envelope(failed))
    assert r.status_code == 409 and r.json["code"] == 409 and "failed" in r.json["message"]
    assert _ask_refund(pay, service_headers, _refund_envelope(str(uuid.uuid4()))).status_code == 404
    with pay.app.app_context():
        assert db.session.query(Refund).count() == 0
    pay.drain()
    assert pay.gateway_count("refund") == 0


@pytest.mark.parametrize("change", [{"transaction_id": "nope"}, {"amount_cents": 0}, {"amount_cents": "5"},
                                    {"request_id": ""}, {"reason": None}])
def test_malformed_refund_request_is_422(pay, service_headers, change):
    envelope = _refund_envelope(str(uuid.uuid4()))
    envelope["data"].update(change)
    assert _ask_refund(pay, service_headers, envelope).status_code == 422


def test_refund_requests_need_the_service_token(pay, service_headers, make_user):
    txn_id = _settled_charge(pay, service_headers)
    _, user_headers = make_user()
    for headers in ({}, user_headers, {"X-Service-Token": "wrong"}):
        assert _ask_refund(pay, headers, _refund_envelope(txn_id)).status_code == 403
    with pay.app.app_context():
        assert db.session.query(Refund).count() == 0


def _refund_by_hand(pay, headers, txn_id, amount_cents=None):
    """An operator refunds through the public endpoint, before the automatic request."""
    body = {} if amount_cents is None else {"amount_cents": amount_cents}
    r = pay.client.post(f"/v1/payments/refund/{txn_id}", json=body, headers=headers)
    assert r.status_code == 202, r.json
    return r.json


def test_requested_refund_of_a_transaction_refunded_by_hand_reports_it_and_records_nothing(
        pay, service_headers, make_user):
    user, h = make_user()
    txn_id = _settled_charge(pay, service_headers, user_id=user.id)
    by_hand = _refund_by_hand(pay, service_headers, txn_id)
    pay.drain()
    pay.sink.requests.clear()
    envelope = _refund_envelope(txn_id)
    first = _ask_refund(pay, service_headers, envelope)
    renamed = _ask_refund(pay, service_headers, {**envelope, "event_id": str(uuid.uuid4())})
    assert first.status_code == renamed.status_code == 200
    assert first.json == renamed.json
    assert first.json["outcome"] == "already_refunded" and first.json["refund"] is None
    assert first.json["transaction"] == {"id": txn_id, "status": "refunded", "amount_cents": 2900,
                                         "refunded_cents": 2900, "currency": "USD"}
    pay.drain()
    with pay.app.app_context():
        assert [(str(r.id), r.request_id) for r in db.session.query(Refund)] == [(by_hand["id"], None)]
    assert pay.gateway_count("refund") == 1 and pay.events() == []


def test_requested_refund_after_a_partial_refund_by_hand_gives_back_only_the_rest(pay, service_headers, make_user):
    user, h = make_user()
    txn_id = _settled_charge(pay, service_headers, user_id=user.id)
    _refund_by_hand(pay, service_headers, txn_id, 1000)
    pay.drain()
    r = _ask_refund(pay, service_headers, _refund_envelope(txn_id))
    assert r.status_code == 202 and r.json["outcome"] == "refund_requested"
    assert (r.json["refund"]["amount_cents"], r.json["refund"]["status"]) == (1900, "pending")
    assert (r.json["transaction"]["status"], r.json["transaction"]["refunded_cents"]) == ("partially_refunded", 1000)
    pay.drain()
    again = _ask_refund(pay, service_headers, _refund_envelope(txn_id))
    assert again.status_code == 200 and again.json["outcome"] == "already_requested"
    assert again.json["refund"]["id"] == r.json["refund"]["id"] and again.json["refund"]["status"] == "succeeded"
    assert (again.json["transaction"]["status"], again.json["transaction"]["refunded_cents"]) == ("refunded", 2900)
    with pay.app.app_context():
        assert sorted(x.amount_cents for x in db.session.query(MockGatewayRequest).filter_by(operation="refund")) == [
            1000, 1900]


@pytest.mark.parametrize("by_hand", [1000, None])
def test_requested_refund_waits_while_a_refund_by_hand_is_pending(pay, service_headers, make_user, by_hand):
    """What is left to give back is known once the pending refund settles: 409 (the outbox asks again)."""
    user, h = make_user()
    txn_id = _settled_charge(pay, service_headers, user_id=user.id)
    _refund_by_hand(pay, service_headers, txn_id, by_hand)
    envelope = _refund_envelope(txn_id)
    early = _ask_refund(pay, service_headers, envelope)
    assert early.status_code == 409 and early.json["code"] == 409 and "pending" in early.json["message"]
    with pay.app.app_context():
        assert db.session.query(Refund).count() == 1
    pay.drain()
    later = _ask_refund(pay, service_headers, envelope)
    if by_hand is None:
        assert later.status_code == 200 and later.json["outcome"] == "already_refunded"
    else:
        assert later.status_code == 202 and later.json["refund"]["amount_cents"] == 1900
    pay.drain()
    with pay.app.app_context():
        assert db.session.get(Transaction, uuid.UUID(txn_id)).refunded_cents == 2900
        assert sum(r.amount_cents for r in db.session.query(Refund).filter_by(status="succeeded")) == 2900


def test_requested_refund_with_an_amount_of_a_refunded_transaction_is_already_refunded(pay, service_headers, make_user):
    user, h = make_user()
    txn_id = _settled_charge(pay, service_headers, user_id=user.id)
    _refund_by_hand(pay, service_headers, txn_id)
    pay.drain()
    r = _ask_refund(pay, service_headers, _refund_envelope(txn_id, amount_cents=100))
    assert r.status_code == 200 and r.json["outcome"] == "already_refunded"
    with pay.app.app_context():
        assert db.session.query(Refund).count() == 1
