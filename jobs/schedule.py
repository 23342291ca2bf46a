"""The periodic job registry: the one place that says what runs on a schedule.

Nothing here knows which scheduler runs them: jobs/scheduler.py, the one module that
knows rq-scheduler, registers every entry (docs/scheduler.md). Each run goes through
run_periodic(), which records when the job last finished, so /v1/health/queues and the
dashboard's /periodic page can show lag.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from flask import current_app, has_app_context
from redis import Redis
from rq.job import get_current_job

from core.queues import DEFAULT
from core.settings import load_settings
from jobs import maintenance, outbox, retention
from jobs.context import service_context, service_of
from payment_app import resubmit
from subscription_app.billing import cycle
from subscription_app.integrations import delivery
from subscription_app.usage import ledger

LAST_RUN_KEY = "periodic:last_run:{job_id}"
JOB_ID_PREFIX = "periodic-"
PERIODIC_META = "periodic"  # job.meta key holding the entry's job_id: the worker logs these runs at DEBUG


@dataclass(frozen=True)
class PeriodicJob:
    job_id: str
    func: Callable[[], object]  # a service's function runs in that service's app context
    # Seconds, or the name of a Settings attribute holding them (read when used, not at import).
    interval: int | str
    queue: str = DEFAULT
    timeout_seconds: int = 300
    description: str = ""
    # Optional function whose dict is merged into this job's health status (own lag figures).
    status: Callable[[], dict] | None = None

    @property
    def interval_seconds(self) -> int:
        if isinstance(self.interval, int):
            return self.interval
        settings = current_app.config["SETTINGS"] if has_app_context() else load_settings()
        return int(getattr(settings, self.interval))


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("heartbeat", maintenance.heartbeat, 30,
                description="Proves the scheduler and a worker are alive"),
    PeriodicJob("outbox-sweep", outbox.sweep_outboxes, 15,
                description="Re-enqueue undelivered outbox events (after a crash or a Redis outage)"),
    PeriodicJob("integration-webhooks-sweep", delivery.sweep, 15,
                description="Re-enqueue due integrator webhook deliveries (after a crash or a Redis outage)"),
    PeriodicJob("billing-cycle", cycle.run_billing_cycle, "billing_cycle_seconds",
                description="Renewals, trial ends, dunning retries, expiry of unpaid subscriptions"),
    PeriodicJob("idempotency-purge", outbox.purge_idempotency_keys, 3600,
                description="Drop Idempotency-Key records past their TTL"),
    PeriodicJob("retention", retention.purge_expired_rows, "retention_interval_seconds",
                description="Delete delivered outbox, old inbox, answered gateway, webhook attempt and "
                            "integration event rows past their windows"),
    PeriodicJob("usage-sync", ledger.sync_usage, "usage_sync_interval_seconds",
                timeout_seconds=120, status=ledger.health_status,
                description="Writes usage counters changed since the last run to PostgreSQL"),
    PeriodicJob("usage-sweep", ledger.sweep_unindexed, 600,
                description="Indexes dirty usage counters whose announce was lost"),
    PeriodicJob("payments-resubmit", resubmit.resubmit_stuck, "payments_resubmit_interval_seconds",
                description="Settle stale pending charges/refunds from the gateway, resend what Redis lost"),
)


def run_periodic(job_id: str):
    """What rq-scheduler enqueues: run the registered function and record the run."""
    entry = next(j for j in PERIODIC_JOBS if j.job_id == job_id)
    with service_context(service_of(entry.func.__module__)):
        result = entry.func()
    job = get_current_job()
    if job is not None:
        job.connection.set(LAST_RUN_KEY.format(job_id=job_id), time.time())
    return result


def periodic_status(connection: Redis) -> dict:
    """Last run and lag of every periodic job, for /v1/health/queues."""
    now = time.time()
    status = {}
    for entry in PERIODIC_JOBS:
        raw = connection.get(LAST_RUN_KEY.format(job_id=entry.job_id))
        last = float(raw) if raw else None
        status[entry.job_id] = {
            "interval_seconds": entry.interval_seconds,
            "last_run": datetime.fromtimestamp(last, timezone.utc).isoformat() if last else None,
            "lag_seconds": round(now - last, 1) if last else None,
            "overdue": last is None or now - last > 2 * entry.interval_seconds + 10,
        }
        if entry.status:
            try:
                status[entry.job_id].update(entry.status())
            except Exception as exc:  # noqa: BLE001 - health reports, never fails
                status[entry.job_id]["status_error"] = exc.__class__.__name__
    return status
