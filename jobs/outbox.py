"""Outbox and idempotency housekeeping across both services, and the operator's view of dead events."""
from __future__ import annotations

import uuid

from core import idempotency, outbox
from core.extensions import db
from jobs.context import in_app, service_context
from payment_app.models import PaymentIdempotencyKey, PaymentOutbox
from subscription_app.models import SubscriptionIdempotencyKey, SubscriptionOutbox

OUTBOXES = (("subscription", SubscriptionOutbox), ("payment", PaymentOutbox))
# What names an event's subject for an operator (a refund.requested: its transaction and reason).
SUBJECT_FIELDS = ("transaction_id", "invoice_id", "refund_id", "subscription_id", "reason")


@in_app("subscription")
def _sweep_subscription() -> int:
    return outbox.sweep(SubscriptionOutbox)


@in_app("payment")
def _sweep_payment() -> int:
    return outbox.sweep(PaymentOutbox)


def sweep_outboxes() -> dict:
    """Periodic: enqueue every undelivered event whose next attempt is due (both services)."""
    return {"subscription": _sweep_subscription(), "payment": _sweep_payment()}


@in_app("subscription")
def _purge_subscription_keys() -> int:
    return idempotency.purge_expired(SubscriptionIdempotencyKey)


@in_app("payment")
def _purge_payment_keys() -> int:
    return idempotency.purge_expired(PaymentIdempotencyKey)


def purge_idempotency_keys() -> dict:
    """Periodic: drop Idempotency-Key records older than their TTL (24 h by default)."""
    return {"subscription": _purge_subscription_keys(), "payment": _purge_payment_keys()}


def _describe(service: str, row) -> dict:
    data = (row.payload or {}).get("data") or {}
    return {"service": service, "id": str(row.id), "event_type": row.event_type, "target": row.target,
            "attempts": row.attempts, "dead_at": row.dead_at, "last_error": row.last_error,
            "subject": {k: data[k] for k in SUBJECT_FIELDS if data.get(k) is not None}}


def dead_events(event_type: str | None = None, limit: int = 50) -> list[dict]:
    """Operator view: the dead events of both services' outboxes, newest first, with what they were about."""
    found = []
    for service, model in OUTBOXES:
        with service_context(service):
            found.extend(_describe(service, row) for row in outbox.dead(model, event_type, limit))
            db.session.rollback()
    return sorted(found, key=lambda e: e["dead_at"], reverse=True)[:limit]


def replay_event(event_id: str) -> tuple[str, str]:
    """Operator action: deliver one outbox event again, whichever service sent it.

    Returns (service, event_type); raises LookupError if neither outbox has it. Receivers dedupe
    by event id, so a replay of an event that was already applied changes nothing."""
    try:
        uuid.UUID(str(event_id))
    except ValueError:
        raise LookupError(f"{event_id!r} is not an outbox event id (a UUID)") from None
    for service, model in OUTBOXES:
        with service_context(service):
            row = db.session.get(model, uuid.UUID(str(event_id)))
            if row is not None:
                event_type = row.event_type
                outbox.replay(model, row.id)
                return service, event_type
    raise LookupError(f"no outbox event {event_id}")
