"""The periodic bill run (jobs/schedule.py runs it every BILLING_CYCLE_SECONDS, 60 by default).

Each step locks its rows (FOR UPDATE SKIP LOCKED) and moves their state on, so overlapping runs
share the work and a repeated run does nothing twice; charges go out through the outbox in the
same transaction (billing/renewals.py). A run drains everything due; past
BILLING_JOB_BUDGET_SECONDS it stops after the current batch and enqueues a continuation, so a
large bill run never waits for the next tick.
"""
from __future__ import annotations

import logging
import time

from flask import current_app

from core.extensions import db
from core.queues import DEFAULT, enqueue_after_commit
from subscription_app.billing import renewals

log = logging.getLogger(__name__)


def run_billing_cycle() -> dict:
    budget = current_app.config["SETTINGS"].billing_job_budget_seconds
    summary = renewals.run_cycle(deadline=time.monotonic() + budget)
    if not summary["complete"]:
        # A batch may run past the budget: the continuation gets the periodic entry's headroom.
        db.session.rollback()  # every batch committed its own work: enqueue now, not after a commit
        job = enqueue_after_commit(DEFAULT, run_billing_cycle, job_timeout=budget + 60)
        log.info("billing cycle used its %s s budget with work left: continuing in job %s (%s)",
                 budget, job.id if job else None, summary)
    return summary
