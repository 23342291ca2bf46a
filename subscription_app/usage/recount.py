"""Rebuild a customer's counters from the reported events (`flask usage recount`).

Events are committed to usage_events before Redis counts them, so after a Redis loss (or an
increment that failed after the insert) a counter can be lower than its events: the recount
raises the ledger and the live counter to at least the period's event total, never lowers them.
"""
from __future__ import annotations

from sqlalchemy import func, select

from core.extensions import db
from subscription_app.usage import entitlements, keys, ledger
from subscription_app.usage.models import UsageEvent
from subscription_app.usage.store import get_store


def event_totals(user_id: int, period_start: int) -> dict[str, int]:
    rows = db.session.execute(select(UsageEvent.feature, func.sum(UsageEvent.quantity)).where(
        UsageEvent.user_id == user_id, UsageEvent.period_start == ledger.as_datetime(period_start))
        .group_by(UsageEvent.feature)).all()
    return {feature: int(total) for feature, total in rows}


def recount(user_id: int) -> dict[str, int]:
    """The open period's counters after the repair, for the features that had events."""
    ent = entitlements.load_entitlement(user_id)
    if not ent.entitled:
        return {}
    totals = event_totals(user_id, ent.period_start)
    ledger.lock_users([user_id])
    stored = ledger.stored_used(user_id, list(totals), ent.period_start)
    client = get_store().client
    counter_keys = [keys.counter(user_id, f, ent.period_start) for f in totals]
    live = dict(zip(totals, client.mget(counter_keys))) if totals else {}
    result = {f: max(n, stored.get(f, 0), int(live[f] or 0)) for f, n in totals.items()}
    ledger.upsert_counters([{"user_id": user_id, "feature": f, "used": n, "period_start": ledger.as_datetime(
        ent.period_start), "period_end": ledger.as_datetime(ent.period_end)} for f, n in result.items()])
    db.session.commit()
    ttl = ledger.counter_ttl(ent.period_end)
    for feature, value in result.items():
        client.set(keys.counter(user_id, feature, ent.period_start), value, ex=ttl)
    return result
