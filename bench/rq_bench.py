"""RQ jobs per second per worker: enqueue N jobs, drain them with one `flask rq worker --burst`.

The rate is N divided by the time from the first job's start to the last job's end
(RQ's own timestamps), so the worker's start-up (importing and building the app) is not
counted and nothing is timed from outside. Two jobs:

- trivial: bench.rq_jobs.noop on the default queue, what the worker itself costs per job;
- delivery: the real outbox delivery job (jobs.outbox.deliver_payment_event ->
  core/outbox.py deliver: lock the row, sign, POST, mark delivered) against a local
  receiver (the bare baseline app), on the webhooks queue.
"""
from __future__ import annotations

import time

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import func, select

from bench.rq_jobs import noop
from core import outbox
from core.extensions import db

CHUNK = 500


def _enqueue_trivial(conn: Redis, n: int) -> str:
    queue = Queue("default", connection=conn)
    for start in range(0, n, CHUNK):
        with conn.pipeline() as pipe:
            queue.enqueue_many([Queue.prepare_data(noop) for _ in range(min(CHUNK, n - start))], pipeline=pipe)
            pipe.execute()
    return "default"


def _enqueue_deliveries(payment_app, n: int) -> str:
    """Outbox rows written and committed by the product's own emit(); its after-commit hook enqueues them."""
    from payment_app.models import PaymentOutbox

    with payment_app.app_context():
        for start in range(0, n, CHUNK):
            for i in range(start, min(start + CHUNK, n)):
                outbox.emit(PaymentOutbox, "bench.delivery", "subscription_webhook", {"n": i})
            db.session.commit()
        db.session.remove()
    return "webhooks"


def _delivered(payment_app) -> int:
    from payment_app.models import PaymentOutbox

    with payment_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(PaymentOutbox)
                                  .where(PaymentOutbox.delivered_at.is_not(None)))
        db.session.execute(PaymentOutbox.__table__.delete())
        db.session.commit()
        db.session.remove()
    return count


def measure(processes, conn: Redis, payment_app, *, kind: str, fork: bool, n: int, receiver_url: str,
            timeout: float = 120) -> dict:
    conn.flushdb()  # the bench's own Redis database: no stale jobs, workers or registries
    queue_name = _enqueue_trivial(conn, n) if kind == "trivial" else _enqueue_deliveries(payment_app, n)
    worker_class = "Worker (--fork)" if fork else "SimpleWorker"
    args = ["--burst"] + (["--fork"] if fork else [])
    proc = processes.worker(f"rq-{kind}-{'fork' if fork else 'simple'}", args,
                            {"SUBSCRIPTION_SERVICE_URL": receiver_url})
    began = time.monotonic()
    try:
        proc.wait(timeout)
    except Exception:  # noqa: BLE001 - a stuck worker is reported, not fatal to the whole run
        processes.stop(proc)
        return {"kind": kind, "worker_class": worker_class, "error": f"worker did not drain {n} jobs in {timeout}s"}
    processes.stop(proc)
    queue = Queue(queue_name, connection=conn)
    ids = FinishedJobRegistry(queue=queue).get_job_ids()
    jobs = [j for j in Job.fetch_many(ids, connection=conn) if j and j.started_at and j.ended_at]
    failed = FailedJobRegistry(queue=queue).count
    result = {"kind": kind, "worker_class": worker_class, "jobs": n, "finished": len(jobs), "failed": failed,
              "wall_seconds_incl_startup": round(time.monotonic() - began, 2), "command": proc.bench_command}
    if kind == "delivery":
        result["delivered_rows"] = _delivered(payment_app)
    if len(jobs) >= 2:
        first = min(j.started_at for j in jobs)
        last = max(j.ended_at for j in jobs)
        seconds = (last - first).total_seconds()
        result["seconds"] = round(seconds, 3)
        result["jobs_per_s"] = round(len(jobs) / seconds, 1) if seconds > 0 else None
        per_job = sorted((j.ended_at - j.started_at).total_seconds() * 1000 for j in jobs)
        result["job_p50_ms"] = round(per_job[len(per_job) // 2], 3)
        result["job_p99_ms"] = round(per_job[min(len(per_job) - 1, int(len(per_job) * 0.99))], 3)
    return result
