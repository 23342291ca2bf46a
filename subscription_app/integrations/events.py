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

from flask_sqlalchemy.session import Session as FlaskSession
from rq import Retry
from sqlalchemy import event as orm_event, select

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
_ENDPOINTS_KEY = "integration_endpoints"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def now() -> datetime:
    # Event times and retries follow the wall clock the queues run on, not the movable billing clock.
    return datetime.now(timezone.utc)


def emit(event_type: str, object_type: str, object_id, payload: dict) -> IntegrationEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown integration event type {event_type!r}")
    endpoints = _endpoints()  # before the add: a first read's autoflush leaves the new event to the next flush
    created = now()
    event = IntegrationEvent(id=new_id("evt"), type=event_type, api_version=API_VERSION, object_type=object_type,
                             object_id=str(object_id), created_at=created)
    event.payload = {"id": event.id, "type": event_type, "api_version": API_VERSION,
                     "timestamp": created.isoformat(), "data": {"object_type": object_type, "object": payload}}
    db.session.add(event)
    for endpoint in endpoints:
        if endpoint.wants(event_type):
            schedule(WebhookDelivery(id=new_id("msg"), event_id=event.id, endpoint_id=endpoint.id,
                                     status="pending", attempts=0, next_attempt_at=created))
    return event


def _endpoints() -> list[WebhookEndpoint]:
    """Every endpoint, read once per transaction: a bill-run batch emits hundreds of events in one.

    The rows are the session's own objects, so `wants` sees a change made in this transaction; an endpoint
    added, changed or deleted in it makes the next event read them again (with the usual autoflush)."""
    session = db.session()
    outer = session.get_transaction()
    cached = session.info.get(_ENDPOINTS_KEY)
    if cached is not None and cached[0] is outer and not _endpoint_pending(session):
        return cached[1]
    endpoints = list(session.scalars(select(WebhookEndpoint)))
    session.info[_ENDPOINTS_KEY] = (outer or session.get_transaction(), endpoints)
    return endpoints


def _endpoint_pending(session) -> bool:
    return any(isinstance(o, WebhookEndpoint) for o in (*session.new, *session.deleted))


@orm_event.listens_for(FlaskSession, "after_flush")
def _forget_endpoints_on_change(session, flush_context):
    # An endpoint written in this transaction: the next event reads them again.
    if _ENDPOINTS_KEY in session.info and any(isinstance(o, WebhookEndpoint)
                                              for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_ENDPOINTS_KEY, None)


@orm_event.listens_for(FlaskSession, "after_soft_rollback")
def _forget_endpoints_on_rollback(session, previous):
    # A SAVEPOINT rolled back may have held an endpoint change.
    session.info.pop(_ENDPOINTS_KEY, None)


@orm_event.listens_for(FlaskSession, "after_transaction_end")
def _forget_endpoints_at_the_end(session, transaction):
    if transaction.parent is None:
        session.info.pop(_ENDPOINTS_KEY, None)


def schedule(delivery: WebhookDelivery, delay: float = 0) -> None:
    """Add (or keep) the delivery in the session and enqueue its job after the commit."""
    db.session.add(delivery)
    enqueue(delivery.id, delivery.attempts or 0, delay)


def job_id(delivery_id: str, attempts: int) -> str:
    """The delivery job's id for a delivery and its attempt count: the sweep finds the job by it."""
    return f"webhook-{delivery_id}-{attempts}"


def enqueue(delivery_id: str, attempts: int, delay: float = 0, rq_job_id: str | None = None) -> None:
    enqueue_after_commit(WEBHOOKS, DELIVER_JOB, delivery_id, delay=delay, retry=ABANDONED_RETRIES,
                         job_id=rq_job_id or job_id(delivery_id, attempts))
