"""The project's named RQ queues and the one place that builds Queue objects."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.worker import Worker

# Highest priority first: a worker listening on all of them drains them in this order.
PAYMENTS = "payments"
WEBHOOKS = "webhooks"
DEFAULT = "default"
QUEUE_NAMES = (PAYMENTS, WEBHOOKS, DEFAULT)


def get_queue(name: str = DEFAULT, connection: Redis | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    conn = connection if connection is not None else current_app.extensions["redis"]
    return Queue(name, connection=conn)


def _with_request_id(kwargs: dict) -> dict:
    """Carry the current request id into the job (job.meta["request_id"]) for its logs."""
    from core.logging import current_request_id

    meta = dict(kwargs.pop("meta", None) or {})
    request_id = current_request_id()
    if request_id and "request_id" not in meta:
        meta["request_id"] = request_id
    return {**kwargs, "meta": meta}


def enqueue(queue_name: str, func, *args, **kwargs) -> Job:
    """The one way to enqueue: Queue.enqueue on a named queue, carrying the request id.

    kwargs are RQ's (job_timeout, job_id, retry, ...) and the function's, as for Queue.enqueue.
    """
    return get_queue(queue_name).enqueue(func, *args, **_with_request_id(kwargs))


def enqueue_in(queue_name: str, delay: timedelta, func, *args, **kwargs) -> Job:
    """enqueue() after `delay` (RQ's own scheduler, run by every `flask rq worker`)."""
    return get_queue(queue_name).enqueue_in(delay, func, *args, **_with_request_id(kwargs))


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
