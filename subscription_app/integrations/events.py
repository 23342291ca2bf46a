"""emit(): announce a state change to the integrators, in the caller's transaction.

    integrations.emit("invoice.paid", "invoice", invoice.id, integrations.dump(invoice))

The event row and one pending delivery per matching enabled endpoint are added to the
session; they commit with the state change or vanish with it. The delivery jobs are
enqueued after that commit (core.queues.enqueue_after_commit); if Redis refuses, the sweep
(delivery.sweep) finds the pending rows.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from rq import Retry
from sqlalchemy import select

from core.extensions import db
from core.queues import WEBHOOKS, enqueue_after_commit
from subscription_app.integrations.models import IntegrationEvent, WebhookDelivery, WebhookEndpoint
from subscription_app.integrations.payloads import API_VERSION

DELIVER_JOB = "subscription_app.integrations.delivery.deliver"
# A job whose worker died is requeued by RQ's StartedJobRegistry cleanup while it has retries left,
# instead of landing in the failed registry; the re-run skips a row the sweep already delivered.
ABANDONED_RETRIES = Retry(max=2)
EVENT_TYPES = (
    "customer.created",
    "subscription.created", "subscription.updated", "subscription.canceled", "subscription.paused",
    "subscription.resumed", "subscription.trial_will_end",
    "invoice.created", "invoice.paid", "invoice.payment_failed", "invoice.voided",
    "payment.succeeded", "payment.failed", "refund.succeeded", "credit_note.created",
    "usage.threshold_reached",
    "coupon.updated", "promotion_code.updated", "discount.created", "discount.deleted",
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def now() -> datetime:
    # Event times and retries follow the wall clock the queues run on, not the movable billing clock.
    return datetime.now(timezone.utc)


def emit(event_type: str, object_type: str, object_id, payload: dict) -> IntegrationEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown integration event type {event_type!r}")
    created = now()
    event = IntegrationEvent(id=new_id("evt"), type=event_type, api_version=API_VERSION, object_type=object_type,
                             object_id=str(object_id), created_at=created)
    event.payload = {"id": event.id, "type": event_type, "api_version": API_VERSION,
                     "timestamp": created.isoformat(), "data": {"object_type": object_type, "object": payload}}
    db.session.add(event)
    for endpoint in db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))):
        if endpoint.wants(event_type):
            schedule(WebhookDelivery(id=new_id("msg"), event_id=event.id, endpoint_id=endpoint.id,
                                     status="pending", attempts=0, next_attempt_at=created))
    return event


def schedule(delivery: WebhookDelivery, delay: float = 0) -> None:
    """Add (or keep) the delivery in the session and enqueue its job after the commit."""
    db.session.add(delivery)
    enqueue(delivery.id, delay)


def enqueue(delivery_id: str, delay: float = 0) -> None:
    enqueue_after_commit(WEBHOOKS, DELIVER_JOB, delivery_id, delay=delay, retry=ABANDONED_RETRIES)
