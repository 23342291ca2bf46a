"""POST /v1/webhooks/payment/batch: up to 100 payment events applied in one transaction, each as
POST /v1/webhooks/payment applies it (events.apply_envelope), in its own SAVEPOINT.

The batch holds every lock it takes until its one commit, so it takes them all first, each kind in id
order: the subscriptions (of the invoices named, and those named directly), then the invoices, then
advisory locks on the event ids (the inbox claims). That is the order renewals and single events use
(subscription, then invoice), so two batches holding some of the same rows or events in other orders
queue up instead of deadlocking; the events are then applied, and answered, in the request's order.
"""
from __future__ import annotations

import uuid

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import or_, select

from core import inbox
from core.errors import ApiError
from core.extensions import db
from subscription_app.billing.events import apply_envelope
from subscription_app.models import Invoice, Subscription, SubscriptionInbox

MAX_BATCH_EVENTS = 100  # what the payment outbox sends in one call at most (core/outbox.py)


class EventBatchSchema(Schema):
    """Several signed events in one call (the payment outbox's batch delivery); each is checked on its own."""
    events = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BATCH_EVENTS))


def receive_many(body) -> list[dict]:
    """Apply a batch of events in one transaction; one result per event, in the request's order.

    Each event has its own SAVEPOINT: one refused (`status` is what POST /v1/webhooks/payment would have
    answered for it: 200, 400, 422) is rolled back alone, so the sender retries only the events that need it.
    The answer is sent after the one commit: an error on the way (a 500) acknowledges none of them, and the
    sender retries them all. A bad list is a 422 naming `events`."""
    try:
        batch = EventBatchSchema().load(body if isinstance(body, dict) else {}, unknown=EXCLUDE)
    except ValidationError as exc:
        raise ApiError(422, "Invalid event batch", errors={"json": exc.messages}) from None
    envelopes = batch["events"]
    lock_ahead(envelopes)
    results, schemas = [], {}
    for envelope in envelopes:
        event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
        try:
            with db.session.begin_nested():
                results.append({**apply_envelope(envelope, schemas), "status": 200})
        except ApiError as exc:
            results.append({"event_id": event_id if isinstance(event_id, str) else None, "status": exc.code,
                            "message": exc.message, **({"errors": exc.errors} if exc.errors else {})})
    db.session.commit()
    return results


def _uuids(values) -> list[uuid.UUID]:
    out = set()
    for value in values:
        try:
            out.add(uuid.UUID(str(value)))
        except (TypeError, ValueError):
            continue  # the event's own validation answers for it
    return sorted(out)


def lock_ahead(envelopes: list) -> None:
    """Take the batch's subscription, invoice and event-id locks, each kind in id order (three statements)."""
    data = [e["data"] for e in envelopes if isinstance(e, dict) and isinstance(e.get("data"), dict)]
    invoice_ids = _uuids(d.get("invoice_id") for d in data if d.get("invoice_id") is not None)
    sub_ids = _uuids(d.get("subscription_id") for d in data if d.get("subscription_id") is not None)
    if invoice_ids or sub_ids:
        owners = select(Invoice.subscription_id).where(Invoice.id.in_(invoice_ids))
        db.session.execute(select(Subscription.id).where(or_(Subscription.id.in_(sub_ids), Subscription.id.in_(owners)))
                           .order_by(Subscription.id).with_for_update(of=Subscription))
    if invoice_ids:
        db.session.execute(select(Invoice.id).where(Invoice.id.in_(invoice_ids)).order_by(Invoice.id)
                           .with_for_update())
    inbox.lock_event_ids(SubscriptionInbox, [e.get("event_id") for e in envelopes if isinstance(e, dict)])
