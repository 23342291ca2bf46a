"""Outbox delivery jobs for both services, and the sweeper that re-enqueues stragglers."""
from __future__ import annotations

from flask import current_app

from core import idempotency, outbox
from jobs.context import in_app
from payment_app.models import PaymentIdempotencyKey, PaymentOutbox
from subscription_app.models import SubscriptionIdempotencyKey, SubscriptionOutbox


@in_app("subscription")
def deliver_subscription_event(event_id: str) -> str:
    return outbox.deliver(SubscriptionOutbox, event_id)


@in_app("payment")
def deliver_payment_event(event_id: str) -> str:
    return outbox.deliver(PaymentOutbox, event_id)


def _settings():
    return current_app.config["SETTINGS"]


outbox.register(outbox.OutboxConfig(
    service="subscription", model=SubscriptionOutbox, deliver_job=deliver_subscription_event,
    targets={"payment_charges": lambda: _settings().payment_service_url + "/v1/payments/internal/charges",
             "payment_refunds": lambda: _settings().payment_service_url + "/v1/payments/internal/refunds"},
))
outbox.register(outbox.OutboxConfig(
    service="payment", model=PaymentOutbox, deliver_job=deliver_payment_event,
    targets={"subscription_webhook": lambda: _settings().subscription_service_url + "/v1/webhooks/payment"},
))


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


# What names an event's subject for an operator (a refund.requested: its transaction and reason).
SUBJECT_FIELDS = ("transaction_id", "invoice_id", "refund_id", "subscription_id", "reason")


def dead_events(event_type: str | None = None, limit: int = 50) -> list[dict]:
    """Operator view: the dead events of both services' outboxes, newest first, with what they were about."""
    from core.extensions import db
    from jobs.context import get_app

    found = []
    for service, model in (("subscription", SubscriptionOutbox), ("payment", PaymentOutbox)):
        with get_app(service).app_context():
            for row in outbox.dead(model, event_type, limit):
                data = (row.payload or {}).get("data") or {}
                found.append({"service": service, "id": str(row.id), "event_type": row.event_type,
                              "target": row.target, "attempts": row.attempts, "dead_at": row.dead_at,
                              "last_error": row.last_error,
                              "subject": {k: data[k] for k in SUBJECT_FIELDS if data.get(k) is not None}})
            db.session.rollback()
    return sorted(found, key=lambda e: e["dead_at"], reverse=True)[:limit]


def replay_event(event_id: str) -> tuple[str, str]:
    """Operator action: deliver one outbox event again, whichever service sent it.

    Returns (service, event_type); raises LookupError if neither outbox has it. Receivers dedupe
    by event id, so a replay of an event that was already applied changes nothing."""
    import uuid

    from core.extensions import db
    from jobs.context import get_app

    try:
        uuid.UUID(str(event_id))
    except ValueError:
        raise LookupError(f"{event_id!r} is not an outbox event id (a UUID)") from None
    for service, model in (("subscription", SubscriptionOutbox), ("payment", PaymentOutbox)):
        with get_app(service).app_context():
            row = db.session.get(model, uuid.UUID(str(event_id)))
            if row is not None:
                event_type = row.event_type
                outbox.replay(model, row.id)
                return service, event_type
    raise LookupError(f"no outbox event {event_id}")
