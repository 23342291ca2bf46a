"""Usage ledger jobs (periodic, see jobs/schedule.py)."""
from __future__ import annotations

from jobs.context import in_app


@in_app("subscription")
def sync_usage() -> dict:
    """Write counters changed since the last run to PostgreSQL; safe to run twice."""
    from core import metrics
    from subscription_app.usage import ledger

    lag = ledger.sync_status()["oldest_unsynced_change_seconds"]
    result = ledger.sync_dirty()
    metrics.usage_sync(lag, result["rows"])
    return result


@in_app("subscription")
def sweep_usage() -> int:
    """Index dirty counters whose announce was lost (a process died between two commands)."""
    from subscription_app.usage import ledger

    return ledger.sweep_unindexed()


def usage_status() -> dict:
    """The sync's own lag, merged into /v1/health/queues (only where the usage store lives)."""
    from flask import current_app

    if "usage_store" not in current_app.extensions:
        return {}
    from subscription_app.usage import ledger

    return ledger.sync_status()
