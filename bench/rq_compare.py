"""Stock RQ SimpleWorker vs jobs.worker.BillingWorker on trivial jobs, alternating, in one process.

    python -m bench.rq_compare [REDIS_URL]   # default: BENCH_REDIS_URL; flushes that database

Prints jobs/s (median of 6 alternating runs each) and the Redis round trips per job,
counted client-side (one per command, one per pipeline): the count does not depend on
how busy the machine is, the rate does.
"""
from __future__ import annotations

import logging
import os
import statistics
import sys
import time

from redis import Redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker

from bench.rq_jobs import noop
from jobs.worker import BillingWorker

JOBS, ROUNDS = 600, 6


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    conn = Redis.from_url(url)
    logging.basicConfig(stream=open(os.devnull, "w"))
    trips = {"n": 0}
    single, piped = Redis.execute_command, Pipeline.execute

    def count_single(self, *args, **kwargs):
        if not isinstance(self, Pipeline):
            trips["n"] += 1
        return single(self, *args, **kwargs)

    def count_pipeline(self, *args, **kwargs):
        trips["n"] += 1
        return piped(self, *args, **kwargs)

    Redis.execute_command, Pipeline.execute = count_single, count_pipeline
    rates: dict[str, list[float]] = {"SimpleWorker": [], "BillingWorker": []}
    per_job: dict[str, float] = {}
    for _ in range(ROUNDS):
        for cls in (SimpleWorker, BillingWorker):
            conn.flushdb()
            queue = Queue("default", connection=conn)
            with conn.pipeline() as pipe:
                queue.enqueue_many([Queue.prepare_data(noop) for _ in range(JOBS)], pipeline=pipe)
                pipe.execute()
            trips["n"] = 0
            started = time.perf_counter()
            cls([queue], connection=conn).work(burst=True, logging_level="INFO", with_scheduler=True)
            rates[cls.__name__].append(JOBS / (time.perf_counter() - started))
            per_job[cls.__name__] = trips["n"] / JOBS
    for name, values in rates.items():
        print(f"{name}: median {statistics.median(values):.0f} jobs/s "
              f"(runs {', '.join(f'{v:.0f}' for v in values)}), {per_job[name]:.1f} Redis round trips/job")


if __name__ == "__main__":
    main()
