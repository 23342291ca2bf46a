"""RQ jobs per second per worker: N jobs drained by one `flask rq worker` (SimpleWorker or --fork).

The worker is started first and the jobs are enqueued once it listens. The rate is N
divided by the time from the first job's start to the last job's end (RQ's own
timestamps), so neither the worker's start-up nor the enqueueing is counted. Two jobs:

- trivial: bench.rq_jobs.noop on the default queue, what the worker itself costs per job;
- delivery: the real outbox delivery job (payment_app.outbox.deliver ->
  core/outbox.py deliver: lock the row, sign, POST, mark delivered) against a local
  receiver (the bare baseline app), on the webhooks queue.

`compare_webhook_delivery` (in the `rq` group) pits the integrator webhook delivery job
(subscription_app.integrations.delivery.deliver: lock the row, resolve and pin the address, sign
Standard Webhooks headers, POST, record the attempt) against a bare RQ job doing one HTTP POST of
the same body to the same receiver, alternating, on SimpleWorker: deliveries/s per worker and the ratio.

`compare_workers` (`--only rq-compare`) runs RQ's stock SimpleWorker and jobs.worker.BillingWorker
on trivial jobs, alternating, in this process, and counts Redis round trips per job client-side
(one per command, one per pipeline): the count does not depend on how busy the machine is.
"""
from __future__ import annotations

import logging
import os
import statistics
import time
import uuid

from redis import Redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, insert, select

from bench.procs import cpu_seconds, cpu_used
from bench.rq_jobs import noop, post_once
from core import http, outbox
from core.extensions import db
from jobs.worker import BillingWorker
from payment_app import outbox as payment_outbox
from payment_app.models import PaymentOutbox
from core.queues import QUEUE_NAMES, WEBHOOKS
from subscription_app import integrations
from subscription_app.catalog.audit import CLI
from subscription_app.integrations import endpoints
from subscription_app.integrations.models import IntegrationEvent, WebhookDelivery, WebhookEndpoint
from subscription_app.integrations.payloads import EXAMPLES

CHUNK = 500


def _enqueue_trivial(conn: Redis, n: int) -> str:
    queue = Queue("default", connection=conn)
    for start in range(0, n, CHUNK):
        with conn.pipeline() as pipe:
            queue.enqueue_many([Queue.prepare_data(noop) for _ in range(min(CHUNK, n - start))], pipeline=pipe)
            pipe.execute()
    return "default"


def _enqueue_deliveries(payment_app, n: int) -> str:
    """n outbox rows, each delivered by the product's one-row job (payment_app.outbox.deliver).

    Not through emit(): its after-commit hook now gives this batch target's rows to one drain job, which
    would POST them to the bare receiver's batch URL (no per-event results: every row retried one by one)."""
    conn = payment_app.extensions["redis"]
    queue = Queue(WEBHOOKS, connection=conn)
    with payment_app.app_context():
        for start in range(0, n, CHUNK):
            ids = [uuid.uuid4() for _ in range(min(CHUNK, n - start))]
            db.session.execute(insert(PaymentOutbox), [
                {"id": i, "event_type": "bench.delivery", "target": "subscription_webhook",
                 "payload": outbox.envelope(i, "bench.delivery", {"n": start + k})} for k, i in enumerate(ids)])
            db.session.commit()
            with conn.pipeline() as pipe:
                queue.enqueue_many([Queue.prepare_data(payment_outbox.deliver, args=(str(i),)) for i in ids],
                                   pipeline=pipe)
                pipe.execute()
        db.session.remove()
    return WEBHOOKS


def _delivered(payment_app) -> int:
    with payment_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(PaymentOutbox)
                                  .where(PaymentOutbox.delivered_at.is_not(None)))
        db.session.execute(PaymentOutbox.__table__.delete())
        db.session.commit()
        db.session.remove()
    return count


def wait_for_workers(conn: Redis, procs: list, seconds: float = 60) -> None:
    """Until every one of these `flask rq worker` processes has registered (building the apps takes seconds)."""
    deadline = time.monotonic() + seconds
    while len(Worker.all(connection=conn)) < len(procs):
        for proc in procs:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"an RQ worker did not start; see {proc.bench_name}.log")
        time.sleep(0.1)


def backlog(conn: Redis) -> dict[str, int]:
    """Jobs not done yet per queue: waiting, running, and scheduled for later (retries, the gateway's delay)."""
    counts = {}
    for name in QUEUE_NAMES:
        queue = Queue(name, connection=conn)
        counts[name] = queue.count + StartedJobRegistry(queue=queue).count + ScheduledJobRegistry(queue=queue).count
    return counts


def wait_until_idle(conn: Redis, seconds: float) -> dict:
    """Until every queue's backlog is gone (at most `seconds`): how long it took, and what is left."""
    started = time.monotonic()
    left = backlog(conn)
    while any(left.values()) and time.monotonic() - started < seconds:
        time.sleep(0.5)
        left = backlog(conn)
    return {"drain_seconds": round(time.monotonic() - started, 1), "left": {k: v for k, v in left.items() if v}}


def _wait_for_drain(queue: Queue, n: int, seconds: float) -> bool:
    finished, failed = FinishedJobRegistry(queue=queue), FailedJobRegistry(queue=queue)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if finished.count + failed.count >= n:
            return True
        time.sleep(0.05)
    return False


def measure(processes, conn: Redis, payment_app, *, kind: str, fork: bool, n: int, receiver_url: str,
            cpu_groups: list[int] = (), backend_pids=lambda: [], timeout: float = 120, enqueue=None,
            rows=None) -> dict:
    """Start one worker, wait until it listens, enqueue n jobs, wait until all are done.

    `enqueue(n)` (returning the queue's name) and `rows()` (a dict merged into the result) replace
    the trivial and outbox delivery jobs' own, for other kinds of job."""
    conn.flushdb()  # the bench's own Redis database: no stale jobs, workers or registries
    worker_class = "Worker (--fork)" if fork else "SimpleWorker"
    proc = processes.worker(f"rq-{kind}-{'fork' if fork else 'simple'}", ["--fork"] if fork else [],
                            {"SUBSCRIPTION_SERVICE_URL": receiver_url})
    result = {"kind": kind, "worker_class": worker_class, "jobs": n, "command": proc.bench_command}
    try:
        wait_for_workers(conn, [proc])
        # CPU of the worker (and its forked children), the receiver and PostgreSQL, from here on:
        # the worker's start-up (importing, building both apps) is not counted.
        before = cpu_seconds([proc.pid, *cpu_groups], backend_pids())
        queue_name = enqueue(n) if enqueue else _enqueue_trivial(conn, n) if kind == "trivial" \
            else _enqueue_deliveries(payment_app, n)
        queue = Queue(queue_name, connection=conn)
        drained = _wait_for_drain(queue, n, timeout)
        used = cpu_used(before, cpu_seconds([proc.pid, *cpu_groups], backend_pids()))
    finally:
        processes.stop(proc)
    if not drained:
        return {**result, "error": f"worker did not drain {n} jobs in {timeout:g}s"}
    ids = FinishedJobRegistry(queue=queue).get_job_ids()
    jobs = [j for j in Job.fetch_many(ids, connection=conn) if j and j.started_at and j.ended_at]
    result.update(finished=len(jobs), failed=FailedJobRegistry(queue=queue).count,
                  cpu_ms_per_job=round(used / max(len(jobs), 1) * 1000, 3))
    if kind == "delivery":
        result["delivered_rows"] = _delivered(payment_app)
    if rows:
        result.update(rows())
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


def _count_round_trips(trips: dict):
    """Wrap redis-py's two public send paths to count round trips; returns the undo."""
    single, piped = Redis.execute_command, Pipeline.execute

    def count_single(self, *args, **kwargs):
        if not isinstance(self, Pipeline):
            trips["n"] += 1
        return single(self, *args, **kwargs)

    def count_pipeline(self, *args, **kwargs):
        trips["n"] += 1
        return piped(self, *args, **kwargs)

    Redis.execute_command, Pipeline.execute = count_single, count_pipeline

    def undo():
        Redis.execute_command, Pipeline.execute = single, piped
    return undo


def compare_workers(conn: Redis, jobs: int = 600, rounds: int = 6) -> list[dict]:
    """SimpleWorker vs BillingWorker on `jobs` trivial jobs, `rounds` alternating runs each (flushes conn's db)."""
    logging.basicConfig(stream=open(os.devnull, "w"))
    trips = {"n": 0}
    rates: dict[str, list[float]] = {"SimpleWorker": [], "BillingWorker": []}
    per_job: dict[str, float] = {}
    undo = _count_round_trips(trips)
    try:
        for _ in range(rounds):
            for cls in (SimpleWorker, BillingWorker):
                conn.flushdb()
                queue = Queue("default", connection=conn)
                _enqueue_trivial(conn, jobs)
                trips["n"] = 0
                started = time.perf_counter()
                cls([queue], connection=conn).work(burst=True, logging_level="INFO", with_scheduler=True)
                rates[cls.__name__].append(jobs / (time.perf_counter() - started))
                per_job[cls.__name__] = trips["n"] / jobs
    finally:
        undo()
    return [{"worker_class": name, "jobs": jobs, "jobs_per_s": round(statistics.median(values), 1),
             "runs": [round(v, 1) for v in values], "redis_round_trips_per_job": round(per_job[name], 1)}
            for name, values in rates.items()]


def _enqueue_integration_webhooks(sub_app, url: str, n: int) -> str:
    """n customer.created events to one endpoint, through the product's own emit(): its after-commit hook
    enqueues one delivery job per event."""
    with sub_app.app_context():
        endpoints.create(CLI, url)
        for start in range(0, n, CHUNK):
            for i in range(start, min(start + CHUNK, n)):
                integrations.emit("customer.created", "customer", i, {**EXAMPLES["customer"], "id": i})
            db.session.commit()
        db.session.remove()
    return WEBHOOKS


def _integration_rows(sub_app) -> dict:
    with sub_app.app_context():
        done = db.session.scalar(select(func.count()).select_from(WebhookDelivery)
                                 .where(WebhookDelivery.status == "succeeded"))
        for model in (WebhookDelivery, IntegrationEvent, WebhookEndpoint):  # attempts go with their deliveries
            db.session.execute(model.__table__.delete())
        db.session.commit()
        db.session.remove()
    return {"delivered_rows": done}


def _enqueue_bare_posts(conn: Redis, url: str, n: int) -> str:
    """The same body the delivery job sends (an event envelope), POSTed by a job that does nothing else."""
    body = http.encode({"id": "evt_bench", "type": "customer.created", "api_version": "2026-12-01",
                        "timestamp": "2027-06-15T10:00:00+00:00",
                        "data": {"object_type": "customer", "object": EXAMPLES["customer"]}})
    queue = Queue(WEBHOOKS, connection=conn)
    for start in range(0, n, CHUNK):
        with conn.pipeline() as pipe:
            queue.enqueue_many([Queue.prepare_data(post_once, (url, body)) for _ in range(min(CHUNK, n - start))],
                               pipeline=pipe)
            pipe.execute()
    return WEBHOOKS


def compare_webhook_delivery(processes, conn: Redis, sub_app, receiver_url: str, n: int, rounds: int = 2,
                             **measure_kwargs) -> list[dict]:
    """Integrator deliveries/s per SimpleWorker against bare one-POST jobs, `rounds` alternating runs each."""
    url = receiver_url + "/hooks"
    kinds = {"integration webhook": dict(enqueue=lambda k: _enqueue_integration_webhooks(sub_app, url, k),
                                         rows=lambda: _integration_rows(sub_app)),
             "bare POST": dict(enqueue=lambda k: _enqueue_bare_posts(conn, url, k))}
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind, hooks in kinds.items():
            runs[kind].append(measure(processes, conn, None, kind=kind, fork=False, n=n, receiver_url=receiver_url,
                                      **hooks, **measure_kwargs))
    out = []
    for kind, results in runs.items():
        # The run nearest the median gives the kind's p50, p99 and CPU; its rate is the median of the runs.
        rates = [r["jobs_per_s"] for r in results if r.get("jobs_per_s")]
        middle = statistics.median(rates) if rates else 0
        entry = dict(min(results, key=lambda r: abs((r.get("jobs_per_s") or 0) - middle)))
        entry.update(runs_jobs_per_s=[r.get("jobs_per_s") for r in results], median_jobs_per_s=middle or None)
        if middle:
            entry["jobs_per_s"] = round(middle, 1)
        out.append(entry)
    product, bare = out
    if product["median_jobs_per_s"] and bare["median_jobs_per_s"]:
        product["ceiling"] = "bare POST SimpleWorker"
        product["ratio"] = round(product["median_jobs_per_s"] / bare["median_jobs_per_s"], 2)
    bare["ceiling"] = "(ceiling)"
    return out
