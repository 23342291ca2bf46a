"""POST /v1/webhooks/payment/batch: two overlapping batches in opposite orders queue up, never deadlock.

Each batch holds its subscription and invoice locks (and its events' inbox claims) until its one commit;
taken in the order the events come, two batches meeting in the middle wait for each other and PostgreSQL
aborts one (a 500). Real PostgreSQL, two threads, several rounds."""
import uuid

import pytest

from core.extensions import db
from subscription_app.models import Invoice
from tests.support.concurrent_batches import post_at_once
from tests.support.billing_support import PRO_MONTHLY_ID, payment_data

pytestmark = pytest.mark.subscription
INVOICES, ROUNDS = 12, 4


@pytest.fixture
def open_invoices(client, seeded, make_user):
    """(user id, JSON invoice) of INVOICES incomplete subscriptions, each with its first invoice open."""
    out = []
    for _ in range(INVOICES):
        user, h = make_user()
        sub = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=h).json
        out.append((user.id, sub["latest_invoice"]))
    return out


def _failed(user_id, invoice) -> dict:
    return {"event_id": str(uuid.uuid4()), "type": "payment.failed", "created_at": "2026-12-01T00:00:00+00:00",
            "data": payment_data(invoice, user_id=user_id, failure_reason="card_declined")}


def test_overlapping_batches_in_opposite_orders_apply_every_event_once(app, settings, open_invoices):
    for _ in range(ROUNDS):
        shared = [_failed(u, inv) for u, inv in open_invoices]  # in both batches
        own = {side: [_failed(u, inv) for u, inv in open_invoices] for side in "ab"}  # one batch each
        first = [e for pair in zip(shared, own["a"]) for e in pair]
        second = [e for pair in zip(shared, own["b"]) for e in pair][::-1]
        answers = post_at_once(app, settings, "/v1/webhooks/payment/batch", [first, second])
        assert [status for status, _ in answers] == [200, 200], answers
        results = {}
        for (_, body), batch in zip(answers, (first, second)):
            assert [r["status"] for r in body["results"]] == [200] * len(batch)
            assert [r["event_id"] for r in body["results"]] == [e["event_id"] for e in batch]  # request order
            for r in body["results"]:
                results.setdefault(r["event_id"], []).append(r["processed"])
        assert all(sorted(results[e["event_id"]]) == [False, True] for e in shared)  # once, then a duplicate
        assert all(results[e["event_id"]] == [True] for e in own["a"] + own["b"])
    with app.app_context():
        counts = [db.session.get(Invoice, uuid.UUID(inv["id"])).attempt_count for _, inv in open_invoices]
    assert counts == [3 * ROUNDS] * INVOICES
