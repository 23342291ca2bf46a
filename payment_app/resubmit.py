"""The payment service's sweep (periodic, jobs/schedule.py): settle or resend what Redis refused or lost.

A pending charge or refund older than PAYMENTS_STUCK_AFTER_SECONDS is settled from the gateway's
record of its key, or submitted again if the gateway never saw it (payment_app/reconcile.py); an
unsent gateway answer is sent again; a verification's authorisation never voided is voided. Every
job it enqueues takes an id, re-reads the row and is safe to run twice.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import select

from core.extensions import db
from core.queues import PAYMENTS, enqueue_after_commit
from payment_app import gateway, reconcile
from payment_app.models import Transaction

VOID_JOB = "payment_app.payments.void_verification"


def resubmit_stuck() -> dict:
    settings = current_app.config["SETTINGS"]
    now = datetime.now(timezone.utc)
    cutoff = now - timedelta(seconds=settings.payments_stuck_after_seconds)
    report = reconcile.reconcile_pending(cutoff)
    voids = _unvoided_verifications(cutoff)
    max_delay = settings.gateway_max_delay_ms / 1000.0
    answers = gateway.unanswered_before(now - timedelta(
        seconds=max_delay + settings.gateway_answer_redeliver_after_seconds))
    db.session.rollback()
    for txn_id in voids:
        enqueue_after_commit(PAYMENTS, VOID_JOB, str(txn_id))
    for request_id in answers:
        gateway.schedule_answer(request_id)
    return {**report, "voids": len(voids), "gateway_answers": len(answers)}


def _unvoided_verifications(cutoff) -> list:
    """A succeeded verification is voided as soon as its answer lands; still succeeded, its void was lost."""
    return list(db.session.scalars(select(Transaction.id).where(
        Transaction.created_at < cutoff, Transaction.kind == "verify", Transaction.status == "succeeded")
        .limit(500)))
