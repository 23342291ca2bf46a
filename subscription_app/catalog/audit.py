"""The one helper every operator action calls: an audit row in the transaction of the change."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from core import clock
from core.extensions import db
from core.logging import current_request_id
from core.pagination import list_page
from subscription_app.catalog.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: an admin user over the API, or the operator's shell (cli) or the seed (no user)."""
    user_id: int | None
    source: str  # api | cli | seed


CLI = Actor(None, "cli")
SEED = Actor(None, "seed")


def _jsonable(state: dict | None) -> dict | None:
    # Through JSON once, so UUIDs, datetimes and the like are stored as the text the API shows.
    return None if state is None else json.loads(json.dumps(state, default=str))


# Every kind of object an audit row may be about; GET /v1/admin/audit filters on these.
OBJECT_TYPES = ("plan", "feature", "customer", "invoice", "subscription", "webhook_endpoint", "api_key", "coupon",
                "promotion_code")


def record(actor: Actor, action: str, object_type: str, object_id, before: dict | None,
           after: dict | None) -> AuditEvent:
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"unknown audit object type {object_type!r}: add it to audit.OBJECT_TYPES")
    event = AuditEvent(actor_user_id=actor.user_id, source=actor.source, action=action, object_type=object_type,
                       object_id=str(object_id), before=_jsonable(before), after=_jsonable(after),
                       request_id=current_request_id(), at=clock.utcnow())
    db.session.add(event)
    return event


def list_events(args: dict, object_type: str | None = None, object_id: str | None = None) -> dict:
    stmt = select(AuditEvent)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    return list_page(stmt, [AuditEvent.at, AuditEvent.id], args)
