"""The worker classes `flask rq worker` runs: RQ's own, running each job in its service's app context.

They extend RQ only where a custom worker class is meant to: around a job's execution (its log
lines bound to the job) and its performance (the service's app context). RQ's heartbeats and
state writes are its own (tests/test_architecture.py fails if RQ changes what we extend).
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time

import redis
from rq import SimpleWorker, Worker

from core.logging import bind_job, current_job
from jobs.context import service_context, service_of
from jobs.schedule import PERIODIC_META

RQ_JOB_LINES = ("Worker %s: %s: %s (%s)", "Worker %s: %s: %s")  # RQ's "dequeued" and "Job OK" lines
# RQ's housekeeping, every maintenance interval: routine, so DEBUG (its problems come at WARNING).
RQ_ROUTINE_LINES = ("Worker %s: cleaning registries for queue: %s", "Worker %s: cleaning group registries")


class _JobLineOnceBound(logging.Filter):
    """Drops RQ's "dequeued" line, written before the job is bound; execute_job writes it again, bound."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in RQ_JOB_LINES or current_job() is not None


class _RoutineToDebug(logging.Filter):
    """RQ's INFO lines about a periodic job (start, success, result kept) and its housekeeping become DEBUG.

    A periodic job's failure is logged by RQ at ERROR and passes unchanged; its lag shows in
    /v1/health/queues. Keyed on job.meta["periodic"], which jobs.scheduler sets on every periodic job.
    """

    def __init__(self, logger: logging.Logger):
        super().__init__()
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._routine(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return self.logger.isEnabledFor(logging.DEBUG)

    @staticmethod
    def _routine(record: logging.LogRecord) -> bool:
        if record.msg in RQ_ROUTINE_LINES:
            return True
        job = current_job()
        return job is not None and bool((job.meta or {}).get(PERIODIC_META))


class _BillingJobs:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not any(isinstance(f, _JobLineOnceBound) for f in self.log.filters):
            self.log.addFilter(_JobLineOnceBound())
            self.log.addFilter(_RoutineToDebug(self.log))

    def execute_job(self, job, queue):
        # RQ logs about the job outside its function too ("Successfully completed ...", "Job OK"):
        # bound here, those lines carry the job id, its request id and the service that enqueued it.
        with bind_job(job):
            self.log.info("Worker %s: %s: %s (%s)", self.name, queue.name, job.description, job.id)
            return super().execute_job(job, queue)

    def perform_job(self, job, queue, execution):
        # A job is a service's function: it runs in that service's app context (in the work horse when forking).
        with service_context(service_of(job.func_name)):
            return super().perform_job(job, queue, execution)


class BillingWorker(_BillingJobs, SimpleWorker):
    """Runs jobs in the worker process (the default): no fork, no per-job connection setup."""


class BillingForkWorker(_BillingJobs, Worker):
    """Forks a child per job (`flask rq worker --fork`): isolation at several times the cost."""


PR_SET_PDEATHSIG = 1  # linux/prctl.h
_forked_by: list[int] = [0]


def _die_with_parent() -> None:
    """In a child the worker forked (RQ's scheduler, a --fork work horse): SIGTERM when the worker dies.

    Without it a SIGKILLed worker leaves its scheduler child running, orphaned, holding and
    refreshing the scheduler locks; on SIGTERM that child stops and releases them.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    if os.getppid() != _forked_by[0]:  # the worker died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def children_die_with_the_worker() -> None:
    """Make every child forked from now on by this process die with it (Linux; a no-op elsewhere)."""
    if sys.platform.startswith("linux") and not _forked_by[0]:
        _forked_by[0] = os.getpid()
        os.register_at_fork(before=lambda: _forked_by.__setitem__(0, os.getpid()), after_in_child=_die_with_parent)


def work_forever(make_worker, *, burst: bool = False, logging_level: str = "INFO",
                 max_restarts: int | None = None, retry_seconds: float = 2.0) -> None:
    """Run a worker; if Redis goes away, wait and start a fresh one instead of exiting.

    RQ retries a failed dequeue, but other calls (heartbeats, registration) raise out of
    work(); under honcho one exiting process stops all the others. `make_worker(restarts)`
    builds a new worker each time (the dead one may still hold its name in Redis).
    """
    log = logging.getLogger(__name__)
    children_die_with_the_worker()
    restarts = 0
    while True:
        worker = make_worker(restarts)
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level=logging_level)
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            restarts += 1
            if max_restarts is not None and restarts > max_restarts:
                raise
            log.warning("worker lost Redis (%s); starting again in %ss", exc.__class__.__name__, retry_seconds)
            time.sleep(retry_seconds)
