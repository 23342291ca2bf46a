"""The payment service's sweep (periodic, jobs/schedule.py): re-enqueue what Redis refused or lost.

Every job it enqueues takes an id, re-reads the row and is safe to run twice: the gateway dedupes
by the idempotency key we send (derived from our row's id), and a row no longer pending is left alone.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import select

from core.extensions import db
from core.queues import PAYMENTS, enqueue_after_commit
from payment_app import gateway
from payment_app.models import Refund, Transaction

# The job that moves each kind of stuck row on.
JOBS = {"charges": "payment_app.payments.submit_to_gateway", "refunds": "payment_app.refunds.submit_to_gateway",
        "voids": "payment_app.payments.void_verification"}


def resubmit_stuck() -> dict:
    """A pending charge or refund the gateway never saw (after PAYMENTS_STUCK_AFTER_SECONDS), a gateway
    answer never sent, a verification's authorisation never voided: enqueue its job again."""
    settings = current_app.config["SETTINGS"]
    now = datetime.now(timezone.utc)
    stuck = _stuck_rows(now - timedelta(seconds=settings.payments_stuck_after_seconds))
    max_delay = settings.gateway_max_delay_ms / 1000.0
    answers = gateway.unanswered_before(now - timedelta(
        seconds=max_delay + settings.gateway_answer_redeliver_after_seconds))
    db.session.rollback()
    for kind, ids in stuck.items():
        for row_id in ids:
            enqueue_after_commit(PAYMENTS, JOBS[kind], str(row_id))
    for request_id in answers:
        gateway.schedule_answer(request_id)
    return {**{kind: len(ids) for kind, ids in stuck.items()}, "gateway_answers": len(answers)}


def _ids(cutoff, model, *where) -> list:
    return list(db.session.scalars(select(model.id).where(model.created_at < cutoff, *where).limit(500)))


def _stuck_rows(cutoff) -> dict[str, list]:
    """Ids of the rows older than `cutoff` still waiting for a job, by kind."""
    return {
        "charges": _ids(cutoff, Transaction, Transaction.status == "pending", Transaction.gateway_reference.is_(None)),
        "refunds": _ids(cutoff, Refund, Refund.status == "pending", Refund.gateway_reference.is_(None)),
        # A succeeded verification is voided as soon as its answer lands; still succeeded, its void was lost.
        "voids": _ids(cutoff, Transaction, Transaction.kind == "verify", Transaction.status == "succeeded"),
    }
