"""The project's named RQ queues and the one place that builds Queue objects."""
from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue
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
