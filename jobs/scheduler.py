"""The scheduler process, and the only module that knows rq-scheduler (docs/scheduler.md).

- register() replaces this project's periodic jobs in rq-scheduler with jobs/schedule.py's
  PERIODIC_JOBS; `flask rq scheduler` calls it at start.
- Every poll checks that each periodic job is still scheduled and still has its job hash, and
  registers again the ones that are not: a Redis that came back empty, or a job deleted from
  rq-dashboard (rq-scheduler then silently drops its entry), is repaired within one poll.
- If Redis is unreachable, rq-scheduler's loop raises; we log, wait and start it again
  instead of exiting (under honcho one exiting process stops all the others).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import redis
from rq.job import Job
from rq_scheduler import Scheduler

from jobs import schedule

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0


def _schedule_entry(scheduler: Scheduler, entry: schedule.PeriodicJob, when: datetime) -> str:
    job = scheduler.schedule(
        scheduled_time=when, func=schedule.run_periodic, args=[entry.job_id], interval=entry.interval_seconds,
        repeat=None, queue_name=entry.queue, id=schedule.JOB_ID_PREFIX + entry.job_id,
        # Kept, not expired: rq-scheduler re-queues this same hash, and drops the job from the
        # schedule for good if the hash expired while no worker ran it (RQ keeps 10 results).
        timeout=entry.timeout_seconds, result_ttl=-1,
        description=entry.description or entry.job_id, meta={schedule.PERIODIC_META: entry.job_id},
    )
    return job.id


def register(scheduler: Scheduler) -> list[str]:
    """Replace this project's periodic jobs in rq-scheduler with PERIODIC_JOBS."""
    for job in scheduler.get_jobs():
        if job.id.startswith(schedule.JOB_ID_PREFIX):
            scheduler.cancel(job)
            job.delete()
    now = datetime.now(timezone.utc)
    return [_schedule_entry(scheduler, entry, now) for entry in schedule.PERIODIC_JOBS]


def _next_times(connection) -> list[float | None]:
    """Per PERIODIC_JOBS entry, its next run (epoch seconds), None if rq-scheduler would not run it again:
    no entry in its sorted set, or the job hash gone (deleted from rq-dashboard; rq-scheduler then drops it)."""
    pipe = connection.pipeline(transaction=False)
    for entry in schedule.PERIODIC_JOBS:
        job_id = schedule.JOB_ID_PREFIX + entry.job_id
        pipe.zscore(Scheduler.scheduled_jobs_key, job_id)
        pipe.exists(Job.key_for(job_id))
    answers = pipe.execute()
    return [score if exists else None for score, exists in zip(answers[::2], answers[1::2])]


def missing(scheduler: Scheduler) -> list[schedule.PeriodicJob]:
    """The periodic jobs rq-scheduler would not run again."""
    return [entry for entry, when in zip(schedule.PERIODIC_JOBS, _next_times(scheduler.connection)) if when is None]


class BillingScheduler(Scheduler):
    def enqueue_jobs(self):
        lost = missing(self)
        if lost:
            now = datetime.now(timezone.utc)
            for entry in lost:
                job_id = _schedule_entry(self, entry, now)
                log.warning("periodic job %s was missing from Redis; registered it again", job_id)
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


def next_runs(connection) -> dict[str, str | None]:
    """When rq-scheduler will next enqueue each periodic job (ISO 8601 UTC), None if it would not."""
    return {entry.job_id: datetime.fromtimestamp(when, timezone.utc).isoformat() if when is not None else None
            for entry, when in zip(schedule.PERIODIC_JOBS, _next_times(connection))}
