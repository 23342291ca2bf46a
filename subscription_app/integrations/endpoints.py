"""The operator's actions on endpoints, deliveries and events (admin API, UI and CLI call these).

Each change writes its audit row (catalog.audit) in the transaction of the change; the rows
carry the endpoint's state before and after, never a secret.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, or_, select

from core.errors import ApiError
from core.extensions import db
from subscription_app.catalog import audit
from subscription_app.catalog.audit import Actor
from subscription_app.integrations import events, signing
from subscription_app.integrations.models import IntegrationEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint


OBJECT_TYPE = "webhook_endpoint"


def snapshot(endpoint: WebhookEndpoint) -> dict:
    """What the audit log keeps of an endpoint: its settings and state, never a secret."""
    return {"url": endpoint.url, "description": endpoint.description, "event_types": list(endpoint.event_types),
            "enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason,
            "previous_secret_expires_at": endpoint.previous_expires_at}


def _audit(actor: Actor, action: str, endpoint_id, before: dict | None, after: dict | None) -> None:
    audit.record(actor, f"{OBJECT_TYPE}.{action}", OBJECT_TYPE, endpoint_id, before, after)


def _field_error(field: str, message: str) -> ApiError:
    return ApiError(422, "Validation failed", errors={"json": {field: [message]}})


def check_url(url: str) -> str:
    """https in production; http also in development and test (the SSRF guard runs again at delivery)."""
    parts = urlsplit(url)
    allowed = ("https",) if current_app.config["SETTINGS"].is_production else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        raise _field_error("url", f"Must be an absolute {' or '.join(allowed)} URL.")
    return url


def check_event_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(events.EVENT_TYPES))
    if unknown:
        raise _field_error("event_types", f"Unknown event types: {', '.join(unknown)}.")
    return sorted(set(types))


def get(endpoint_id: uuid.UUID, for_update: bool = False) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    endpoint = db.session.scalar(query.with_for_update() if for_update else query)
    if endpoint is None:
        raise ApiError(404, "Webhook endpoint not found")
    return endpoint


def create(actor: Actor, url: str, event_types: list[str] | None = None,
           description: str | None = None) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url=check_url(url), description=description,
                               event_types=check_event_types(event_types or []), secret=signing.new_secret(),
                               enabled=True)
    db.session.add(endpoint)
    _audit(actor, "created", endpoint.id, None, snapshot(endpoint))
    db.session.commit()
    return endpoint


def list_all() -> list[WebhookEndpoint]:
    return db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at)).all()


def update(actor: Actor, endpoint_id: uuid.UUID, changes: dict) -> WebhookEndpoint:
    endpoint = get(endpoint_id, for_update=True)
    before = snapshot(endpoint)
    if "url" in changes:
        endpoint.url = check_url(changes["url"])
    if "event_types" in changes:
        endpoint.event_types = check_event_types(changes["event_types"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes:
        set_enabled(endpoint, changes["enabled"])
    after = snapshot(endpoint)
    if after != before:
        _audit(actor, "updated", endpoint.id, before, after)
    db.session.commit()
    return endpoint


def set_enabled(endpoint: WebhookEndpoint, enabled: bool, reason: str = "disabled by the operator") -> None:
    endpoint.enabled = enabled
    endpoint.disabled_reason = None if enabled else reason
    if enabled:
        endpoint.failing_since = None


def delete(actor: Actor, endpoint_id: uuid.UUID) -> None:
    endpoint = get(endpoint_id, for_update=True)
    _audit(actor, "deleted", endpoint.id, snapshot(endpoint), None)
    db.session.delete(endpoint)
    db.session.commit()


def rotate(actor: Actor, endpoint_id: uuid.UUID, overlap_seconds: int) -> WebhookEndpoint:
    """A new secret signs from now on; the old one signs beside it for overlap_seconds."""
    endpoint = get(endpoint_id, for_update=True)
    before = snapshot(endpoint)
    endpoint.previous_secret = endpoint.secret if overlap_seconds > 0 else None
    endpoint.previous_expires_at = events.now() + timedelta(seconds=overlap_seconds) if overlap_seconds else None
    endpoint.secret = signing.new_secret()
    _audit(actor, "secret_rotated", endpoint.id, before, {**snapshot(endpoint), "overlap_seconds": overlap_seconds})
    db.session.commit()
    return endpoint


def deliveries(endpoint_id: uuid.UUID, status: str | None, limit: int) -> list[WebhookDelivery]:
    get(endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return db.session.scalars(query.order_by(WebhookDelivery.created_at.desc()).limit(limit)).all()


def delivery_log(endpoint_id: uuid.UUID, status: str | None, limit: int) -> list[dict]:
    """The deliveries of deliveries(), each with its event's type and every attempt, oldest attempt first."""
    rows = deliveries(endpoint_id, status, limit)
    types = dict(db.session.execute(select(IntegrationEvent.id, IntegrationEvent.type).where(
        IntegrationEvent.id.in_([d.event_id for d in rows]))).all())
    tried: dict[str, list[WebhookAttempt]] = {d.id: [] for d in rows}
    for attempt in db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(list(tried)))
                                      .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)):
        tried[attempt.delivery_id].append(attempt)
    return [{"delivery": d, "event_type": types.get(d.event_id), "attempts": tried[d.id]} for d in rows]


def _resend(delivery: WebhookDelivery) -> None:
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, events.now()
    events.schedule(delivery)


def _enabled(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = get(endpoint_id, for_update=True)
    if not endpoint.enabled:
        raise ApiError(409, f"Webhook endpoint is disabled ({endpoint.disabled_reason}); enable it first")
    return endpoint


def replay_since(actor: Actor, endpoint_id: uuid.UUID, since: datetime) -> int:
    """Send every failed or dead delivery of the endpoint created since `since` once more."""
    _enabled(endpoint_id)
    rows = db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status.in_(("failed", "dead")),
        WebhookDelivery.created_at >= since).with_for_update()).all()
    for delivery in rows:
        _resend(delivery)
    _audit(actor, "replayed", endpoint_id, None, {"since": since, "replayed": len(rows)})
    db.session.commit()
    return len(rows)


def _replay_one(event_id: str, endpoint_id: uuid.UUID) -> WebhookDelivery:
    delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id,
                                                               WebhookDelivery.endpoint_id == endpoint_id)
                                 .with_for_update())
    delivery = delivery or WebhookDelivery(id=events.new_id("msg"), event_id=event_id, endpoint_id=endpoint_id)
    _resend(delivery)
    return delivery


def replay_event(actor: Actor, event_id: str, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """Send one event to one endpoint now, whatever became of an earlier delivery (same webhook-id)."""
    if db.session.get(IntegrationEvent, event_id) is None:
        raise ApiError(404, "Event not found")
    _enabled(endpoint_id)
    delivery = _replay_one(event_id, endpoint_id)
    _audit(actor, "replayed", endpoint_id, None, {"event_id": event_id, "delivery_id": delivery.id, "replayed": 1})
    db.session.commit()
    return delivery


def replay_after(actor: Actor, endpoint_id: uuid.UUID, cursor: str) -> int:
    """Send every event after the event `cursor` to the endpoint (its filter applies), in one commit."""
    start = db.session.get(IntegrationEvent, cursor)
    if start is None:
        raise _field_error("starting_after", "No such event.")
    endpoint = _enabled(endpoint_id)
    rows = db.session.execute(select(IntegrationEvent.id, IntegrationEvent.type).where(_after(start)).order_by(
        IntegrationEvent.created_at, IntegrationEvent.id)).all()
    wanted = [event_id for event_id, event_type in rows if endpoint.wants(event_type)]
    for event_id in wanted:
        _replay_one(event_id, endpoint_id)
    _audit(actor, "replayed", endpoint_id, None, {"after_event": cursor, "replayed": len(wanted)})
    db.session.commit()
    return len(wanted)


def _after(event: IntegrationEvent):
    return or_(IntegrationEvent.created_at > event.created_at,
               and_(IntegrationEvent.created_at == event.created_at, IntegrationEvent.id > event.id))


def list_events(args: dict) -> dict:
    """Oldest first, after the cursor; `has_more` says whether another page follows."""
    query = select(IntegrationEvent)
    if args.get("starting_after"):
        start = db.session.get(IntegrationEvent, args["starting_after"])
        if start is None:
            raise ApiError(422, "Validation failed", errors={"query": {"starting_after": ["No such event."]}})
        query = query.where(_after(start))
    for key, clause in (("type", lambda v: IntegrationEvent.type == v),
                        ("object_id", lambda v: IntegrationEvent.object_id == v),
                        ("created_gte", lambda v: IntegrationEvent.created_at >= v),
                        ("created_lte", lambda v: IntegrationEvent.created_at <= v)):
        if args.get(key) is not None:
            query = query.where(clause(args[key]))
    rows = db.session.scalars(query.order_by(IntegrationEvent.created_at, IntegrationEvent.id)
                              .limit(args["limit"] + 1)).all()
    return {"items": rows[:args["limit"]], "has_more": len(rows) > args["limit"]}
