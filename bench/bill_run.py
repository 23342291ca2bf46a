"""The bill run: N subscriptions due at once, each renewed, invoiced, charged, paid and acknowledged back.

    python -m bench.run --only bill-run --bill-run-n 200          # while developing
    python -m bench.run --bill-run-n 1000,10000                  # what `make bench` runs
    python -m bench.run --only bill-run --bill-run-n 100000 --bill-run-timeout 7200

N users get an active Pro subscription whose period ended a second ago and a saved card on the
payment service (rows inserted directly: building 10,000 through the API would take longer than the
run). Then one `run_billing_cycle` job is enqueued, as the scheduler does every BILLING_CYCLE_SECONDS,
and the product's own path runs: the billing job renews and invoices each subscription in batches
and writes a charge.requested to the outbox -> RQ delivers it to the payment service -> submit job ->
mock gateway (1-3 s, a delayed job, no worker held) -> gateway webhook -> payment outbox -> RQ ->
subscription webhook -> the renewal invoice is paid. "Settled" is that last step, counted in
PostgreSQL; wall time runs from the enqueue to the last settled renewal.

`flask rq scheduler` runs beside the workers, as the Procfile runs it: jobs/schedule.py's periodic jobs
(the outbox sweep, the payment sweep, the billing cycle's own tick...) repair a job lost on the way (a
worker's "too many clients", say) as they would in production, and their CPU counts in the run's. It
and the workers start, and its first round of periodic jobs runs, before the subscriptions are due.
"""
from __future__ import annotations

import os
import secrets
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, insert, select

from bench import fixtures
from bench.phases import cpu_by_component, redis_server_pid
from bench.procs import cpu_seconds, cpu_used
from bench.rq_bench import backlog, wait_for_workers
from core import clock
from core.extensions import db
from core.queues import DEFAULT, get_queue
from jobs.schedule import LAST_RUN_KEY
from payment_app.models import MockGatewayToken, PaymentMethod
from subscription_app.models import Invoice, Subscription
from subscription_app.seed import PRO_MONTHLY_ID

BILLING_JOB = "subscription_app.billing.cycle.run_billing_cycle"
POLL_SECONDS = 0.5


def prepare(sub_app, pay_app, n: int, prefix: str) -> list[int]:
    """N users, each with a saved success card and an active Pro subscription due now; their ids."""
    users = fixtures.create_users(sub_app, prefix, n)
    tokens = ["tok_" + secrets.token_hex(12) for _ in users]
    methods = [uuid.uuid4() for _ in users]
    with pay_app.app_context():
        db.session.execute(insert(MockGatewayToken), [
            {"token": t, "brand": "visa", "last4": "4242", "approvable": True} for t in tokens])
        db.session.execute(insert(PaymentMethod), [
            {"id": m, "user_id": u["id"], "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2035,
             "gateway_token": t} for m, u, t in zip(methods, users, tokens)])
        db.session.commit()
        db.session.remove()
    with sub_app.app_context():
        end = clock.utcnow() - timedelta(seconds=1)
        # Anchored at the period's end, so the next period is exactly one month (one renewal each).
        db.session.execute(insert(Subscription), [
            {"id": uuid.uuid4(), "user_id": u["id"], "plan_id": PRO_MONTHLY_ID, "status": "active",
             "current_period_start": end - timedelta(days=30), "current_period_end": end,
             "billing_cycle_anchor": end, "payment_method_id": m} for u, m in zip(users, methods)])
        db.session.commit()
        db.session.remove()
    return [u["id"] for u in users]


def settled(sub_app, user_ids: list[int]) -> int:
    """Renewal invoices of these users that the payment service's answer marked paid."""
    with sub_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Invoice).where(
            Invoice.reason == "subscription_cycle", Invoice.status == "paid",
            Invoice.user_id.between(min(user_ids), max(user_ids))))
        db.session.remove()
    return count


def wait_for_first_billing_tick(conn, scheduler, seconds: float = 60) -> None:
    """Until the scheduler's first billing-cycle run finished (nothing is due yet: it finds nothing)."""
    deadline, key = time.monotonic() + seconds, LAST_RUN_KEY.format(job_id="billing-cycle")
    while not conn.exists(key):
        if scheduler.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the scheduler's first periodic jobs did not run; see rq-scheduler.log")
        time.sleep(0.1)


def measure(cfg, procs, n: int) -> dict:
    """One bill run of n renewals with cfg.payments_workers RQ workers; the servers are already up."""
    conn = cfg.sub_app.extensions["redis"]
    conn.delete(LAST_RUN_KEY.format(job_id="billing-cycle"))
    # Before this run's workers and scheduler start: anything queued now is an earlier phase's, run inside ours.
    left_over = {queue: count for queue, count in backlog(conn).items() if count}
    workers = [procs.worker(f"rq-worker-{i}", []) for i in range(cfg.payments_workers)]
    scheduler = procs.scheduler()
    wait_for_workers(conn, workers)
    wait_for_first_billing_tick(conn, scheduler)
    user_ids = prepare(cfg.sub_app, cfg.pay_app, n, f"bill{n}")
    print(f"[bench] bill run: {n:,} renewals due, {len(workers)} RQ workers", flush=True)
    ceilings = {server["server_pgid"] for server in (getattr(cfg, "ceiling_servers", None) or {}).values()}
    groups = [p.pid for p in procs.children if p.pid not in ceilings]
    redis_pid = redis_server_pid(cfg.sub_app)
    redis_pids = [redis_pid] if redis_pid else []
    before, redis_before = cpu_seconds(groups, cfg.backend_pids()), cpu_seconds([], redis_pids)
    started = time.monotonic()
    # As the scheduler's next tick would; when that tick comes, the two runs share the work (cycle.py).
    get_queue(DEFAULT, conn).enqueue(BILLING_JOB, job_timeout=3600)
    done, last_change, deadline = 0, started, started + cfg.bill_run_timeout
    while done < n and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        count = settled(cfg.sub_app, user_ids)
        if count != done:
            done, last_change = count, time.monotonic()
    wall = last_change - started
    after = cpu_seconds(groups, cfg.backend_pids())
    redis_cpu = cpu_used(redis_before, cpu_seconds([], redis_pids))
    parts = cpu_by_component(procs, before, after)
    for proc in (*workers, scheduler):
        procs.stop(proc)
    by_process = {name: round(seconds / max(done, 1) * 1000, 2) for name, seconds in sorted(parts.items())}
    by_process["redis"] = round(redis_cpu / max(done, 1) * 1000, 2)
    result = {"n": n, "settled": done, "complete": done == n, "wall_seconds": round(wall, 1),
              "settled_per_s": round(done / wall, 1) if wall > 0 else None, "rq_workers": len(workers),
              "cpu_ms_per_renewal": round(sum(by_process.values()), 2), "cpu_ms_per_renewal_by_process": by_process,
              "cpu_bound_renewals_per_s": None, "jobs_left_over_at_start": left_over}
    if result["cpu_ms_per_renewal"]:
        result["cpu_bound_renewals_per_s"] = round((os.cpu_count() or 1) * 1000 / result["cpu_ms_per_renewal"], 1)
    print(f"[bench] bill run {n:,}: {done:,} settled in {wall:.1f} s ({result['settled_per_s']}/s), "
          f"{result['cpu_ms_per_renewal']} CPU ms per renewal {by_process}", flush=True)
    return result


def run(cfg, procs) -> list[dict]:
    """Each N of --bill-run-n in turn (their subscriptions renew into next month: the next N's are new)."""
    return [measure(cfg, procs, n) for n in cfg.bill_run_n]


def growth(runs: list[dict]) -> dict | None:
    """Smallest N to largest: per-renewal CPU must stay within 20 % (total work linear in N)."""
    measured = [r for r in runs if r.get("settled")]
    if len(measured) < 2:
        return None
    low, high = measured[0], measured[-1]
    ratio = high["cpu_ms_per_renewal"] / low["cpu_ms_per_renewal"]
    return {"from_n": low["n"], "to_n": high["n"], "cpu_per_renewal_ratio": round(ratio, 2),
            "linear": abs(ratio - 1) <= 0.2,
            "settled_per_s_ratio": round(high["settled_per_s"] / low["settled_per_s"], 2)
            if low.get("settled_per_s") and high.get("settled_per_s") else None}
