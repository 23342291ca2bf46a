"""The project's named RQ queues, and the one way to enqueue a job: enqueue_after_commit().

    enqueue_after_commit(PAYMENTS, "payment_app.payments.submit_to_gateway", str(txn.id))
    db.session.commit()   # the job is enqueued now, and never if the transaction rolls back

Inside a transaction the job waits for its commit (core/on_commit.py: a rolled-back SAVEPOINT
drops it); outside one it is enqueued at once. Either way it carries the request id and the
enqueuing service in job.meta, so its log lines can be followed by one grep (core/logging.py).

Redis-down policy, the same for every job: the failure is logged at WARNING and not raised, since
what the job works on is already committed in PostgreSQL and answering an error would invite a
retry; a periodic sweep finds the row and enqueues the job again (docs/jobs.md lists each sweep).
"""
from __future__ import annotations

import functools
import logging
from datetime import timedelta

import redis
from flask import current_app, has_app_context
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.worker import Worker

from core.extensions import db
from core.logging import current_request_id
from core.on_commit import on_commit

log = logging.getLogger(__name__)
# Highest priority first: a worker listening on all of them drains them in this order.
PAYMENTS = "payments"
WEBHOOKS = "webhooks"
DEFAULT = "default"
QUEUE_NAMES = (PAYMENTS, WEBHOOKS, DEFAULT)
WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def get_queue(name: str = DEFAULT, connection: Redis | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    conn = connection if connection is not None else current_app.extensions["redis"]
    return Queue(name, connection=conn)


def job_meta(meta: dict | None = None) -> dict:
    """The caller's meta plus the current request id and service (a caller's own values win)."""
    trace = {"request_id": current_request_id(),
             "service": current_app.config.get("SERVICE_NAME") if has_app_context() else None}
    return {**{k: v for k, v in trace.items() if v}, **(meta or {})}


def enqueue_after_commit(queue_name: str, func, *args, delay: float = 0, **kwargs) -> Job | None:
    """Enqueue func(*args) after the current transaction commits (at once if none is open).

    `delay` seconds puts it in RQ's scheduled registry first. kwargs are RQ's (retry, job_timeout,
    meta, ...) and the function's, as for Queue.enqueue. Returns the job when it was enqueued at
    once, None when it waits for the commit or Redis refused it (logged; the job's sweep retries).
    """
    if queue_name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue_name!r}")
    kwargs["meta"] = job_meta(kwargs.get("meta"))  # read now: the commit may run in another context
    enqueue = functools.partial(_enqueue, queue_name, func, args, kwargs, delay)
    if has_app_context() and db.session().in_transaction():
        on_commit(enqueue)
        return None
    return enqueue()


def enqueue_now(queue_name: str, func, *args, **kwargs) -> Job | None:
    """Enqueue at once, whatever transaction is open: for code that already runs after its commit."""
    if queue_name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue_name!r}")
    kwargs["meta"] = job_meta(kwargs.get("meta"))
    return _enqueue(queue_name, func, args, kwargs, 0)


def _enqueue(queue_name: str, func, args: tuple, kwargs: dict, delay: float) -> Job | None:
    queue = get_queue(queue_name)
    try:
        if delay > 0:
            return queue.enqueue_in(timedelta(seconds=delay), func, *args, **kwargs)
        return queue.enqueue(func, *args, **kwargs)
    except redis.RedisError as exc:
        name = func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"
        log.warning("could not enqueue %s%r on %s (%s); its sweep will enqueue it again", name, args,
                    queue_name, exc.__class__.__name__)
        return None


def job_statuses(job_ids: list[str]) -> dict[str, JobStatus]:
    """The status of each of these jobs that exists (one round trip); none while Redis is down."""
    try:
        jobs = Job.fetch_many(job_ids, connection=current_app.extensions["redis"])
    except redis.RedisError as exc:
        log.warning("could not read job statuses (%s): the sweep enqueues without them", exc.__class__.__name__)
        return {}
    return {job.id: job.get_status(refresh=False) for job in jobs if job is not None}


def sweep_job_ids(job_ids: list[str]) -> dict[str, str | None]:
    """For a sweep, by each row's job id: None when that job waits already, else the id to enqueue it as.

    A started job keeps its id (it may be running, or its worker died): a second job gets `<id>-swept`,
    and is not enqueued again while it waits. One round trip for all of them."""
    statuses = job_statuses([i for job_id in job_ids for i in (job_id, f"{job_id}-swept")])
    ids = {}
    for job_id in job_ids:
        status, swept = statuses.get(job_id), f"{job_id}-swept"
        if status in WAITING or (status == JobStatus.STARTED and statuses.get(swept) in WAITING):
            ids[job_id] = None
        else:
            ids[job_id] = swept if status == JobStatus.STARTED else job_id
    return ids


def queue_stats(connection: Redis) -> dict:
    """Depth, failed count and listening workers per queue (what /v1/health/queues shows)."""
    workers = Worker.all(connection=connection)
    stats = {}
    for name in QUEUE_NAMES:
        queue = Queue(name, connection=connection)
        stats[name] = {
            "depth": queue.count,
            "failed": FailedJobRegistry(queue=queue).count,
            "workers": sum(1 for w in workers if name in w.queue_names()),
        }
    return stats
