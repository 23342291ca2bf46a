"""The scheduler process: rq-scheduler, made to survive Redis outages and losses.

- If Redis comes back empty (a restart without persistence, a failover), the periodic jobs
  are gone with it: every poll checks a marker key and registers them again.
- If Redis is unreachable, rq-scheduler's loop raises; we log, wait and start it again
  instead of exiting (under honcho one exiting process stops all the others).
"""
from __future__ import annotations

import logging
import time

import redis
from rq_scheduler import Scheduler

from jobs import schedule

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0


class BillingScheduler(Scheduler):
    def enqueue_jobs(self):
        if not self.connection.exists(schedule.REGISTERED_KEY):
            ids = schedule.register(self)
            log.warning("periodic jobs were missing from Redis; registered %s again", len(ids))
        return super().enqueue_jobs()


def run_forever(scheduler: BillingScheduler, *, max_restarts: int | None = None) -> None:
    restarts = 0
    while True:
        try:
            scheduler.run()
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            restarts += 1
            if max_restarts is not None and restarts > max_restarts:
                raise
            log.warning("scheduler lost Redis (%s); retrying in %ss", exc.__class__.__name__, RETRY_SECONDS)
            time.sleep(RETRY_SECONDS)
