"""Billing in arrears: a closed period's usage becomes priced lines (docs/usage-billing.md).

The renewal calls `close_period` in its own transaction: it takes the user's ledger lock
(ordered against the sync job and an admin reset), seals the period in Redis while reading its
counters (one script: no increment reaches the period after that read), writes them to
usage_counters one last time, and prices what the ledger then holds.

An increment that finds the period sealed waits for the closing transaction (it holds the
ledger lock until it commits) and then counts in the next period, or is refused if the
subscription ended; if the close was rolled back instead, the seal is lifted (`await_close`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.errors import ApiError
from core.extensions import db
from subscription_app.models import InvoiceLine
from subscription_app.usage import entitlements, keys, ledger, plan_pricing
from subscription_app.usage.pricing import rate
from subscription_app.usage.store import get_store

LOCK_NOT_AVAILABLE = "55P03"
CLOSE_WAIT = "10s"  # an increment waits this long for a closing transaction, then answers 503


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _merged(user_id: int, features: list[str], start: datetime,
            seal_until: datetime | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """(ledger, ledger and Redis merged); with seal_until the Redis read also seals the period."""
    ps = _epoch(start)
    stored = ledger.stored_used(user_id, features, ps)
    counters = [keys.counter(user_id, f, ps) for f in features]
    if seal_until is not None:
        live = get_store().seal(keys=[keys.sealed(user_id), *counters],
                                args=[ps, ledger.counter_ttl(_epoch(seal_until))])
    else:
        live = get_store().client.mget(counters) if features else []
    return stored, {f: max(stored.get(f, 0), int(v or 0)) for f, v in zip(features, live)}


def _with_events(user_id: int, own: dict[str, int], start: datetime) -> dict[str, int]:
    """`use` units plus the period's billed events, from usage_events: a Redis loss forgets none of them."""
    events = ledger.event_totals(user_id, _epoch(start), list(own))
    return {f: n + events.get(f, 0) for f, n in own.items()}


def used_so_far(user_id: int, features: list[str], start: datetime) -> dict[str, int]:
    """The period's usage as of now (Redis and ledger merged, plus events), writing nothing."""
    return _with_events(user_id, _merged(user_id, features, start)[1], start)


def await_close(user_id: int, period_start: int) -> None:
    """Wait for the transaction closing this user's period, then lift the seal if it did not end the period.

    Once the ledger lock is ours the closer has committed (the period moved on, or the subscription
    ended) or rolled back: then PostgreSQL still shows the period as current and it counts again.
    """
    try:
        db.session.execute(text(f"SET LOCAL lock_timeout = '{CLOSE_WAIT}'"))
        ledger.lock_users([user_id])
        current = entitlements.load_entitlement(user_id)
    except OperationalError as err:
        db.session.rollback()
        if getattr(err.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
            raise
        raise ApiError(503, "The usage period is being closed, retry shortly", headers={"Retry-After": "1"}) from err
    db.session.rollback()
    if current.entitled and current.period_start == period_start:
        get_store().unseal(keys=[keys.sealed(user_id)], args=[period_start])


def final_sync(user_id: int, features: list[str], start: datetime, end: datetime) -> dict[str, int]:
    """The period's usage: its `use` counters (Redis and ledger merged, the larger wins, sealed and written
    to the ledger) plus its reported events (all of them: inserts wait for this transaction)."""
    ledger.lock_users([user_id])
    ledger.lock_events([user_id], shared=False)
    stored, used = _merged(user_id, features, start, seal_until=end)
    # The ledger keys periods by whole seconds, as the counters and the sync job do (a period may start at .5 s).
    row = {"user_id": user_id, "period_start": ledger.as_datetime(_epoch(start)),
           "period_end": ledger.as_datetime(_epoch(end))}
    ledger.upsert_counters([{**row, "feature": f, "used": n} for f, n in used.items() if n > stored.get(f, -1)])
    return _with_events(user_id, used, start)


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
