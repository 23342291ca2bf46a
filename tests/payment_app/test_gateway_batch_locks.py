"""POST /v1/webhooks/gateway/batch: two overlapping batches in opposite orders queue up, never deadlock.

Each batch holds its transaction and refund locks (and its events' inbox claims) until its one commit;
taken in the order the events come, two batches meeting in the middle wait for each other and PostgreSQL
aborts one. Real PostgreSQL, two threads, several rounds."""

import pytest

from core.extensions import db
from payment_app import gateway
from payment_app.models import MockGatewayRequest, Transaction
from tests.support.concurrent_batches import post_at_once
from tests.support.payment_fixtures import pending_charges

pytestmark = pytest.mark.payment
CHARGES, ROUNDS = 12, 4


def test_overlapping_gateway_batches_in_opposite_orders_apply_every_result_once(app, payment_app, payment_client,
                                                                                service_headers, settings):
    """(`app`: its teardown empties the tables, so the next test does not count these charges.)"""
    for _ in range(ROUNDS):
        ids = pending_charges(payment_app, payment_client, service_headers, CHARGES)
        with payment_app.app_context():
            shared = [gateway.answer_event(db.session.get(MockGatewayRequest, i)) for i in ids]
            db.session.rollback()
        # The same results reported again under other event ids, one set per batch: they change nothing.
        own = {side: [{**e, "event_id": f"{e['event_id']}-{side}"} for e in shared] for side in "ab"}
        first = [e for pair in zip(shared, own["a"]) for e in pair]
        second = [e for pair in zip(shared, own["b"]) for e in pair][::-1]
        answers = post_at_once(payment_app, settings, "/v1/webhooks/gateway/batch", [first, second])
        assert [status for status, _ in answers] == [200, 200], answers
        processed = {}
        for (_, body), batch in zip(answers, (first, second)):
            assert [r["status"] for r in body["results"]] == [200] * len(batch)
            assert [r["event_id"] for r in body["results"]] == [e["event_id"] for e in batch]  # request order
            for r, e in zip(body["results"], batch):
                processed.setdefault(e["data"]["transaction_id"], []).append(r["processed"])
        assert all(sorted(p) == [False, False, False, True] for p in processed.values())  # each settled once
        with payment_app.app_context():
            statuses = [db.session.scalar(db.select(Transaction.status).where(Transaction.gateway_reference == i))
                        for i in ids]
            db.session.rollback()
        assert statuses == ["succeeded"] * CHARGES
