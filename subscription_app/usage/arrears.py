"""Billing in arrears: a closed period's usage becomes priced lines (docs/usage-billing.md).

The renewal calls `close_period` in its own transaction: it takes the user's ledger lock
(ordered against the sync job and an admin reset), writes the Redis counters of that period
to usage_counters one last time, and prices what the ledger then holds.
"""
from __future__ import annotations

from datetime import datetime

from core.extensions import db
from subscription_app.models import InvoiceLine
from subscription_app.usage import keys, ledger, plan_pricing
from subscription_app.usage.pricing import rate
from subscription_app.usage.store import get_store


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _merged(user_id: int, features: list[str], start: datetime) -> tuple[dict[str, int], dict[str, int]]:
    ps = _epoch(start)
    stored = ledger.stored_used(user_id, features, ps)
    live = get_store().client.mget([keys.counter(user_id, f, ps) for f in features]) if features else []
    return stored, {f: max(stored.get(f, 0), int(v or 0)) for f, v in zip(features, live)}


def used_so_far(user_id: int, features: list[str], start: datetime) -> dict[str, int]:
    """The period's usage as of now (Redis and ledger merged), writing nothing."""
    return _merged(user_id, features, start)[1]


def final_sync(user_id: int, features: list[str], start: datetime, end: datetime) -> dict[str, int]:
    """The period's counters, Redis and ledger merged (the larger wins) and written to the ledger."""
    ledger.lock_users([user_id])
    stored, used = _merged(user_id, features, start)
    ledger.upsert_counters([{"user_id": user_id, "feature": f, "used": n, "period_start": start,
                             "period_end": end} for f, n in used.items() if n > stored.get(f, -1)])
    return used


def priced_lines(plan_id, used: dict[str, int], pricing: dict[str, dict], start: datetime, end: datetime,
                 currency: str) -> list[InvoiceLine]:
    """One usage line per soft-priced feature, billed or not (the customer sees what was included)."""
    lines = []
    for feature, spec in sorted(pricing.items()):
        if spec["limit_mode"] != "soft":
            continue
        quantity = used.get(feature, 0)
        billable, amount, detail = rate(quantity, spec["included"], spec)
        lines.append(InvoiceLine(
            kind="usage", plan_id=plan_id, currency=currency, period_start=start, period_end=end,
            amount_cents=amount, feature=feature, quantity=quantity, included=spec["included"],
            billable=billable, pricing={**spec, **detail},
            description=f"{feature}: {quantity} used, {spec['included']} included, {billable} billable"))
    return lines


def close_period(user_id: int, plan_id, start: datetime, end: datetime, currency: str) -> list[InvoiceLine]:
    """The usage lines of a period that just ended, priced with the plan in force at its end."""
    pricing = plan_pricing.of(plan_id)
    soft = sorted(k for k, v in pricing.items() if v["limit_mode"] == "soft")
    used = final_sync(user_id, soft, start, end) if soft else {}
    db.session.flush()
    return priced_lines(plan_id, used, pricing, start, end, currency)
