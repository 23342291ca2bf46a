"""Idempotency-Key on process and refund, and no card data anywhere: not in responses, not in the
OpenAPI schemas, not in any database column, not in the outgoing events."""
import threading

import pytest
from sqlalchemy import text

from core.extensions import db
from payment_app.models import Transaction
from tests.support.payment_fixtures import SUCCESS_CARD

pytestmark = [pytest.mark.payment, pytest.mark.security]
BODY = {"amount_cents": 990, "currency": "USD", "card": SUCCESS_CARD}
PAN = "4242424242424242"


def test_process_replays_with_the_same_key_and_body(pay, make_user):
    _, h = make_user()
    first = pay.process(h, BODY, key="order-1")
    second = pay.process(h, BODY, key="order-1")
    assert first.status_code == second.status_code == 202
    assert first.json == second.json and second.headers["Idempotent-Replayed"] == "true"
    other = pay.process(h, {**BODY, "amount_cents": 991}, key="order-1")
    assert other.status_code == 422
    pay.drain()
    assert pay.gateway_count() == 1


def test_twenty_parallel_process_calls_with_one_key_charge_once(pay, make_user):
    _, h = make_user()
    results = []

    def go():
        r = pay.app.test_client().post("/v1/payments/process", json=BODY, headers={**h, "Idempotency-Key": "k"})
        results.append((r.status_code, (r.json or {}).get("id")))

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [c for c, _ in results]
    assert set(codes) <= {202, 409} and 202 in codes
    assert len({i for c, i in results if c == 202}) == 1  # every 202 is the one transaction (some replayed)
    pay.drain()
    with pay.app.app_context():
        assert db.session.query(Transaction).count() == 1
    assert pay.gateway_count() == 1


def test_refund_idempotency_key(pay, make_user):
    _, h = make_user()
    txn_id = pay.process(h, BODY).json["id"]
    pay.drain()
    url = f"/v1/payments/refund/{txn_id}"
    first = pay.client.post(url, json={"amount_cents": 100}, headers={**h, "Idempotency-Key": "r1"})
    second = pay.client.post(url, json={"amount_cents": 100}, headers={**h, "Idempotency-Key": "r1"})
    assert first.status_code == second.status_code == 202 and first.json["id"] == second.json["id"]
    assert pay.client.post(url, json={"amount_cents": 200}, headers={**h, "Idempotency-Key": "r1"}).status_code == 422
    pay.drain()
    assert pay.transaction(h, txn_id).json["refunded_cents"] == 100
    assert pay.gateway_count("refund") == 1


def test_no_card_data_in_responses_events_schema_or_database(pay, make_user, service_headers):
    _, h = make_user()
    responses = [pay.process(h, BODY), pay.process(h, {**BODY, "card": {**SUCCESS_CARD, "cvc": "987"}})]
    responses.append(pay.client.post("/v1/payments/internal/payment-methods", headers=service_headers,
                                      json={"user_id": 5, "card": SUCCESS_CARD}))
    pay.drain()
    responses.append(pay.client.get("/v1/payments/transactions", headers=h))
    responses.append(pay.transaction(h, responses[0].json["id"]))
    for r in responses:
        raw = r.get_data(as_text=True)
        assert PAN not in raw and "tok_" not in raw and "gateway_token" not in raw and "987" not in raw
    assert all(PAN not in r["body"].decode() and "tok_" not in r["body"].decode() for r in pay.sink.requests)

    spec = pay.client.get("/openapi.json").json
    out_schemas = {n: s for n, s in spec["components"]["schemas"].items()
                   if n in ("Transaction", "PaymentMethod", "Refund", "TransactionPage")}
    assert out_schemas and all(not {"number", "cvc", "gateway_token", "token"} & set(s.get("properties", {}))
                               for s in out_schemas.values())

    with pay.app.app_context():
        columns = db.session.execute(text(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'jsonb', 'json')")).all()
        assert not [c for c in columns if c.column_name in ("number", "card_number", "cvc", "pan")]
        for table, column in columns:
            hits = db.session.execute(text(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE :pan OR "{column}"::text LIKE :cvc'),
                {"pan": f"%{PAN}%", "cvc": '%"987"%'}).scalar()
            assert hits == 0, f"card data in {table}.{column}"
