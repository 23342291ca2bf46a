"""Payment jobs: submit charges and refunds to the gateway, and the gateway's delayed answers.

Each job takes an id, re-reads the row and is safe to run twice: the gateway dedupes
by the idempotency key we send (derived from our row's id), and a row that is no
longer pending is left alone.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from flask import current_app

from core.extensions import db
from core.http import encode, signed_post
from core.queues import PAYMENTS, enqueue_after_commit
from jobs.context import in_app

log = logging.getLogger(__name__)


@in_app("payment")
def submit_charge(txn_id: str):
    from payment_app import payments
    return payments.submit_to_gateway(txn_id)


@in_app("payment")
def submit_refund(refund_id: str):
    from payment_app import refunds
    return refunds.submit_to_gateway(refund_id)


@in_app("payment")
def void_verification(txn_id: str):
    from payment_app import payments
    return payments.void_verification(txn_id)


@in_app("payment")
def send_gateway_answer(request_id: str) -> str:
    """The mock gateway's webhook: POST the signed result of one request to our own service."""
    from payment_app import gateway
    from payment_app.models import MockGatewayRequest

    row = db.session.get(MockGatewayRequest, request_id)
    if row is None or row.answered_at is not None:
        db.session.rollback()
        return "skipped"
    body = encode(gateway.answer_event(row))
    db.session.rollback()  # hold no row while our own service handles the webhook
    url = current_app.config["SETTINGS"].payment_service_url + "/v1/webhooks/gateway"
    response = signed_post(url, body)
    if response.status_code >= 500 or response.status_code in (401, 409, 429):
        raise RuntimeError(f"gateway webhook answered HTTP {response.status_code}; retrying")
    if response.status_code >= 400:
        log.warning("gateway webhook for %s refused with HTTP %s; not retried", request_id, response.status_code)
    db.session.execute(MockGatewayRequest.__table__.update().where(MockGatewayRequest.id == request_id)
                       .values(answered_at=datetime.now(timezone.utc)))
    db.session.commit()
    return f"HTTP {response.status_code}"


@in_app("payment")
def resubmit_stuck() -> dict:
    """Periodic: what Redis may have refused or lost. A pending charge or refund older than
    PAYMENTS_STUCK_AFTER_SECONDS is settled from the gateway's record of its key, or submitted again if
    the gateway never saw it (payment_app/reconcile.py); an unsent gateway answer is sent again; a
    verification's authorisation never voided is voided. Every step is idempotent."""
    from payment_app import gateway, reconcile

    settings = current_app.config["SETTINGS"]
    now = datetime.now(timezone.utc)
    report = reconcile.reconcile_pending(now - timedelta(seconds=settings.payments_stuck_after_seconds))
    voids = _unvoided_verifications(now - timedelta(seconds=settings.payments_stuck_after_seconds))
    max_delay = settings.gateway_max_delay_ms / 1000.0
    answers = gateway.unanswered_before(now - timedelta(
        seconds=max_delay + settings.gateway_answer_redeliver_after_seconds))
    db.session.rollback()
    for txn_id in voids:
        enqueue_after_commit(PAYMENTS, "jobs.payments.void_verification", str(txn_id))
    for request_id in answers:
        gateway.schedule_answer(request_id)
    return {**report, "voids": len(voids), "gateway_answers": len(answers)}


def _unvoided_verifications(cutoff) -> list:
    """A succeeded verification is voided as soon as its answer lands; still succeeded, its void was lost."""
    from sqlalchemy import select

    from payment_app.models import Transaction

    return list(db.session.scalars(select(Transaction.id).where(
        Transaction.created_at < cutoff, Transaction.kind == "verify", Transaction.status == "succeeded")
        .limit(500)))
