"""Repair a customer's event counters from the reported events (`flask usage recount`).

Reported events are billed from usage_events; the Redis event counter only enforces limits, and
a Redis loss needs no recount (a missing counter is rebuilt from the counted events). What can
stay behind is an event whose request died after its insert and before its increment (`pending`):
the recount sets the open period's event counters to the total of its billed events and marks the
pending ones counted. An event being counted at that very moment may then count twice against
the limit (never on the invoice).
"""
from __future__ import annotations

from sqlalchemy import update

from core.extensions import db
from subscription_app.usage import entitlements, keys, ledger
from subscription_app.usage.models import EVENT_COUNTED, EVENT_PENDING, UsageEvent
from subscription_app.usage.store import get_store


def recount(user_id: int) -> dict[str, int]:
    """The open period's usage after the repair, for the features that had events."""
    ent = entitlements.load_entitlement(user_id)
    if not ent.entitled:
        return {}
    ledger.lock_events([user_id], shared=False)  # no insert of this customer's events meanwhile
    totals = ledger.event_totals(user_id, ent.period_start)
    db.session.execute(update(UsageEvent).where(
        UsageEvent.user_id == user_id, UsageEvent.period_start == ledger.as_datetime(ent.period_start),
        UsageEvent.state == EVENT_PENDING).values(state=EVENT_COUNTED))
    own = ledger.stored_used(user_id, list(totals), ent.period_start)
    db.session.commit()
    client = get_store().client
    ttl = ledger.counter_ttl(ent.period_end)
    pipe = client.pipeline(transaction=False)
    for feature, total in totals.items():
        pipe.set(keys.event_counter(user_id, feature, ent.period_start), total, ex=ttl)
        pipe.set(keys.counter(user_id, feature, ent.period_start), own.get(feature, 0), nx=True, ex=ttl)
    pipe.execute()
    live = client.mget([keys.counter(user_id, f, ent.period_start) for f in totals]) if totals else []
    return {f: int(n or 0) + totals[f] for f, n in zip(totals, live)}
