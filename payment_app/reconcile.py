"""Settle stale pending charges and refunds from the gateway's own record (docs/guarantees.md).

The gateway's answer normally arrives by webhook, from a delayed job. That job can be lost (Redis
lost it, or the RQ worker running it was SIGKILLed and RQ's scheduler lock, which releases delayed
jobs, outlives the worker by a minute), so the answer is not our only source: like a real PSP
integration, we ask the gateway for the request we sent under our idempotency key. If it has one,
its outcome is applied through the same path as the webhook, under the webhook's own event id, so
whichever comes second is a recorded duplicate. If it has none, the request is submitted again.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from core.errors import ApiError
from core.extensions import db
from core.queues import PAYMENTS, enqueue_after_commit
from payment_app import gateway, gateway_results
from payment_app.models import Refund, Transaction

log = logging.getLogger(__name__)
BATCH = 500
SUBMIT_JOBS = {"charge": "payment_app.payments.submit_to_gateway", "refund": "payment_app.refunds.submit_to_gateway"}


def gateway_key(kind: str, row_id) -> str:
    """The idempotency key a charge (or authorisation) or a refund is sent to the gateway with."""
    return f"{'refund' if kind == 'refund' else 'txn'}:{row_id}"


def _pending(model, cutoff) -> list[str]:
    ids = db.session.scalars(select(model.id).where(model.status == "pending", model.created_at < cutoff)
                             .order_by(model.created_at).limit(BATCH))
    return [str(i) for i in ids]


def reconcile_pending(cutoff) -> dict:
    """Every pending charge and refund created before `cutoff`: settled from the gateway, or resubmitted."""
    work = {"charges": _pending(Transaction, cutoff), "refunds": _pending(Refund, cutoff)}
    db.session.rollback()
    report = {"settled": 0, "charges": 0, "refunds": 0}
    for key, ids in work.items():
        for row_id in ids:
            outcome = _reconcile_one("refund" if key == "refunds" else "charge", row_id)
            if outcome != "unchanged":
                report["settled" if outcome == "settled" else key] += 1
    return report


def _reconcile_one(kind: str, row_id: str) -> str:
    """"settled" from the gateway's record, "submitted" again (the gateway never saw it), or "unchanged"."""
    event = gateway.status_by_key(gateway_key(kind, row_id))
    db.session.rollback()
    if event is None:
        enqueue_after_commit(PAYMENTS, SUBMIT_JOBS[kind], row_id)
        return "submitted"
    try:
        return "settled" if gateway_results.apply_event(event)["processed"] else "unchanged"
    except ApiError as exc:  # an amount mismatch, say: apply_event logged it; left for an operator
        db.session.rollback()
        log.error("gateway record for %s %s not applied: %s", kind, row_id, exc.message)
        return "unchanged"
