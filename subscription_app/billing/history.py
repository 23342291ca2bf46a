"""A subscription's history (subscription_events), written in the caller's transaction."""
from __future__ import annotations

from sqlalchemy import select

from core import clock
from core.extensions import db
from core.pagination import list_page
from subscription_app import integrations
from subscription_app.models import Subscription, SubscriptionEvent

# History entries that integrators hear about as they are written (docs/webhooks.md).
INTEGRATION_EVENTS = {"paused": "subscription.paused", "resumed": "subscription.resumed",
                      "trial_will_end": "subscription.trial_will_end"}


def record(sub: Subscription, event_type: str, details: dict) -> SubscriptionEvent:
    event = SubscriptionEvent(subscription_id=sub.id, type=event_type, details=details, at=clock.utcnow())
    db.session.add(event)
    if event_type in INTEGRATION_EVENTS:
        integrations.emit(INTEGRATION_EVENTS[event_type], "subscription", sub.id, integrations.dump(sub))
    return event


def list_events(sub: Subscription, args: dict) -> dict:
    return list_page(select(SubscriptionEvent).where(SubscriptionEvent.subscription_id == sub.id),
                     [SubscriptionEvent.at, SubscriptionEvent.id], args, descending=False)
