"""Housekeeping jobs."""
from __future__ import annotations

import time

from rq.job import get_current_job

HEARTBEAT_KEY = "scheduler:heartbeat"


def heartbeat() -> float:
    """Record that the scheduler enqueued and a worker ran a job just now."""
    now = time.time()
    job = get_current_job()
    if job is not None:
        job.connection.set(HEARTBEAT_KEY, now)
    return now
