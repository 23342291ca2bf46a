"""Table growth figures for `python -m bench.lists --retention` (docs/retention.md).

Rows and bytes per payment: new users subscribe with the success card through both real services
(loopback HTTP, jobs drained in-process by the shipped worker class), and every table's growth is
divided by the payments made. Then N delivered outbox rows, shaped like the real ones, are inserted
and the periodic jobs that read the outbox are timed with them there, and the retention job drains them.
"""
from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta

from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import text

from bench import fixtures
from core import clock
from core.extensions import db
from core.queues import QUEUE_NAMES, get_queue
from jobs import outbox, retention
from jobs.worker import BillingWorker
from subscription_app.seed import PRO_MONTHLY_ID

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def _drain(redis_conn) -> None:
    queues = [get_queue(n, connection=redis_conn) for n in QUEUE_NAMES]
    for _ in range(50):
        for queue in queues:
            registry = ScheduledJobRegistry(queue=queue)
            for job_id in registry.get_jobs_to_schedule():
                queue.enqueue_job(Job.fetch(job_id, connection=redis_conn))
                registry.remove(job_id)
        if not any(q.count for q in queues) and not any(ScheduledJobRegistry(queue=q).count for q in queues):
            return
        BillingWorker(queues, connection=redis_conn).work(burst=True)
        time.sleep(0.05)
    raise RuntimeError("queues did not drain")


def _table_sizes(app) -> dict:
    with app.app_context():
        names = db.session.scalars(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'alembic_version'")).all()
        sizes = {}
        for name in names:
            rows, size = db.session.execute(text(
                f'SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0) FROM "{name}" t')).one()
            sizes[name] = (rows, int(size))
        db.session.rollback()
    return sizes


def per_payment(sub, payments: int) -> list[dict]:
    users = fixtures.create_users(sub, "growth", payments)
    before = _table_sizes(sub)
    client = sub.test_client()
    for user in users:
        answer = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": CARD},
                             headers={"Authorization": f"Bearer {user['token']}"})
        assert answer.status_code == 201, answer.get_data()[:300]
    _drain(sub.extensions["redis"])
    after = _table_sizes(sub)
    with sub.app_context():
        active = db.session.scalar(text("SELECT count(*) FROM subscriptions WHERE status = 'active'"))
    assert active == payments, f"{active} of {payments} subscriptions active"
    rows = []
    for name, (count, size) in sorted(after.items()):
        grown = count - before.get(name, (0, 0))[0]
        if grown:
            rows.append({"table": name, "rows_per_payment": round(grown / payments, 2),
                         "bytes_per_payment": round((size - before.get(name, (0, 0))[1]) / payments)})
    rows.append({"table": "total", "rows_per_payment": round(sum(r["rows_per_payment"] for r in rows), 2),
                 "bytes_per_payment": sum(r["bytes_per_payment"] for r in rows)})
    return rows


def _timed(fn, repeats: int = 5) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def with_delivered_outbox(sub, rows: int) -> list[dict]:
    with sub.app_context():
        payload = db.session.scalar(text("SELECT payload FROM sub_outbox_events LIMIT 1")) or {}
        started = time.perf_counter()
        db.session.execute(text(
            "INSERT INTO sub_outbox_events (id, event_type, target, payload, attempts, next_attempt_at, "
            "delivered_at, created_at) SELECT gen_random_uuid(), 'charge.requested', 'payment', "
            "CAST(:payload AS jsonb), 1, :at, :at, :at FROM generate_series(1, :rows)"),
            {"payload": json.dumps(payload), "rows": rows,
             "at": clock.utcnow() - timedelta(days=40)})
        db.session.commit()
        db.session.execute(text("ANALYZE sub_outbox_events"))
        db.session.commit()
        insert_s = round(time.perf_counter() - started, 1)
        table_bytes = db.session.scalar(text("SELECT pg_total_relation_size('sub_outbox_events')"))
    figures = [{"what": f"insert {rows} delivered outbox rows", "seconds": insert_s,
                "table_and_index_bytes": table_bytes, "bytes_per_row": round(table_bytes / rows)},
               {"what": "outbox-sweep run (both outboxes)", "ms": _timed(outbox.sweep_outboxes)}]
    runs, started = [], time.perf_counter()
    while True:
        run_started = time.perf_counter()
        deleted = retention.purge_expired_rows()["sub_outbox_events"]
        runs.append((deleted, time.perf_counter() - run_started))
        if deleted == 0:
            break
    total = sum(d for d, _ in runs)
    seconds = time.perf_counter() - started
    figures.append({"what": "retention runs until drained", "runs": len(runs), "deleted": total,
                    "seconds": round(seconds, 1), "rows_per_second": round(total / seconds)})
    figures.append({"what": "retention run with nothing to delete, before VACUUM",
                    "ms": _timed(retention.purge_expired_rows)})
    with sub.app_context():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM sub_outbox_events"))
    figures.append({"what": "retention run with nothing to delete, after VACUUM",
                    "ms": _timed(retention.purge_expired_rows)})
    return figures


def run(sub, pay, outbox_rows: int, payments: int = 20) -> list[dict]:
    return per_payment(sub, payments) + with_delivered_outbox(sub, outbox_rows)
