"""The phases of a bench run: ceilings, product endpoints, payments end to end, RQ.

Each takes the parsed arguments (`cfg`, which also carries the run's users, servers and
apps) and the process manager, and returns result entries for bench/out/results.json.
"""
from __future__ import annotations

import functools
import os
import resource

from bench import e2e, fixtures, rq_bench, scenarios
from bench.procs import cpu_seconds, cpu_used
from subscription_app.seed import PRO_MONTHLY_ID

DRAIN_SECONDS = 240  # a collapsed floor/2 run on 2 cores leaves a few minutes of jobs

CEILINGS = (("bare", "GET", "/ping"), ("jwt", "GET", "/jwt"), ("jwt_evalsha", "POST", "/evalsha"),
            ("jwt_pg", "GET", "/pg"))
# The ceilings the product's HTTP scenarios are compared with, run alternately with them.
PAIRED_CEILINGS = ("jwt_evalsha", "jwt_pg")
PAYMENTS_TARGET = 150.0
RQ_TARGET = 250.0


def ceilings(cfg, procs) -> list[dict]:
    """Each ceiling alone, in turn; the ones the product is paired with stay up for the product phase."""
    out = []
    cfg.ceiling_servers = {}
    for i, (name, method, path) in enumerate(CEILINGS):
        port = cfg.port + i
        # The product's working threads only: a ceiling has no `?wait=` requests to park (gunicorn.conf.py).
        proc = procs.gunicorn(f"ceiling-{name}", f"bench.baseline_apps:{name}", port, ready_path="/ping",
                              extra_env={"STATUS_WAIT_SLOTS": "0"})
        body = {} if method == "POST" else None
        entry = scenarios.run_http(name, port=port, method=method, path=path, cfg=cfg, server_pgid=proc.pid,
                                   requests=scenarios.per_user(cfg.read_users, body))
        out.append(entry)
        if name in PAIRED_CEILINGS and not entry.get("skipped"):
            cfg.ceiling_servers[name] = {
                "url": f"http://127.0.0.1:{port}{path}", "server_pgid": proc.pid,
                "request_file": os.path.join(cfg.work_dir, f"{name}.req")}
        else:
            procs.stop(proc)
    return out


def paired(cfg, ceiling: str) -> dict | None:
    """The running ceiling a product scenario is measured alongside (None: it was not measured)."""
    return (getattr(cfg, "ceiling_servers", None) or {}).get(ceiling)


def product(cfg, settings) -> list[dict]:
    """The subscription service's endpoints (its server is already up)."""
    users = cfg.read_users
    http = functools.partial(scenarios.run_http, port=cfg.port + 10, app=cfg.sub_app, cfg=cfg,
                             server_pgid=cfg.servers["subscription"].pid)
    out = [
        http("me", method="GET", path="/v1/auth/me", ceiling="jwt_pg", requests=scenarios.per_user(users),
             paired=paired(cfg, "jwt_pg")),
        http("subscriptions/active", method="GET", path="/v1/subscriptions/active", ceiling="jwt_pg",
             requests=scenarios.per_user(users), paired=paired(cfg, "jwt_pg")),
        http("usage use", method="POST", path="/v1/usage/features/api_calls/use", ceiling="jwt_evalsha",
             requests=scenarios.per_user(users, {"delta": 1}), paired=paired(cfg, "jwt_evalsha")),
    ]
    # Enough fresh event ids for the warm-up and every repeat at the ceiling's pace, with margin.
    ceiling = next((e for e in cfg.ceiling_results if e["name"] == "jwt_pg" and e.get("rps")), {})
    count = int((ceiling.get("rps") or 4000) * (cfg.warmup + cfg.repeats * cfg.duration) * 1.5) + 1000
    out.append(http("webhook verify", method="POST", path="/v1/webhooks/payment", ceiling="jwt_pg",
                    requests=scenarios.signed_webhooks(settings, count), note="fresh event id per request",
                    paired=paired(cfg, "jwt_pg")))
    out.append(http("login (bcrypt)", method="POST", path="/v1/auth/login", ceiling="bcrypt",
                    requests=scenarios.logins(users, fixtures.BENCH_PASSWORD), connections=4, timeout="20s",
                    note=f"BCRYPT_ROUNDS={settings.bcrypt_rounds}"))
    return out


def transactions(cfg) -> dict:
    """GET /v1/payments/transactions, by the users of the payments run if there was one (1 row each)."""
    users = cfg.payment_users or cfg.read_users
    return scenarios.run_http(
        "payments/transactions", port=cfg.port + 11, server_pgid=cfg.servers["payment"].pid, method="GET",
        path="/v1/payments/transactions", app=cfg.pay_app, cfg=cfg, ceiling="jwt_pg",
        requests=scenarios.per_user(users), paired=paired(cfg, "jwt_pg"),
        note="users with 1 transaction" if cfg.payment_users else "users without transactions")


def payments(cfg, procs) -> dict:
    if not fixtures.route_exists(cfg.sub_app, "POST", "/v1/subscriptions"):
        print("[bench] payments e2e: skipped, POST /v1/subscriptions is not routed on this branch", flush=True)
        return {"skipped": "skipped: endpoint missing"}
    users = fixtures.create_users(cfg.sub_app, "pay", int(cfg.payments_rate * cfg.payments_seconds))
    workers = [procs.worker(f"rq-worker-{i}", []) for i in range(cfg.payments_workers)]
    rq_bench.wait_for_workers(cfg.sub_app.extensions["redis"], workers)  # before the first charge request lands
    print(f"[bench] payments e2e: {cfg.payments_rate:g}/s for {cfg.payments_seconds:g}s, "
          f"{cfg.payments_workers} RQ workers", flush=True)
    ceilings = {server["server_pgid"] for server in (getattr(cfg, "ceiling_servers", None) or {}).values()}
    groups = [p.pid for p in procs.children if p.pid not in ceilings]  # the idle paired ceilings are not ours
    backends = cfg.backend_pids()
    redis_pid = redis_server_pid(cfg.sub_app)
    before = cpu_seconds(groups, backends)
    redis_before = cpu_seconds([], [redis_pid] if redis_pid else [])
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    result = e2e.run_payments("127.0.0.1", cfg.port + 10, users, str(PRO_MONTHLY_ID), rate=cfg.payments_rate)
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    after = cpu_seconds(groups, cfg.backend_pids())
    servers = cpu_used(before, after)
    redis_cpu = cpu_used(redis_before, cpu_seconds([], [redis_pid] if redis_pid else []))
    parts = cpu_by_component(procs, before, after)
    # Past the box's pace the queues outlive the load; drained here, so the next phase measures only itself.
    result["after_load"] = rq_bench.wait_until_idle(cfg.sub_app.extensions["redis"], DRAIN_SECONDS)
    for w in workers:
        procs.stop(w)
    client = sum(getattr(client_after, f) - getattr(client_before, f) for f in ("ru_utime", "ru_stime"))
    if result["completed"]:
        # What one payment costs in CPU (both services, the workers, their PostgreSQL backends; not
        # the shared Redis), hence what this box could complete per second if it ran nothing else.
        per_payment = servers / result["completed"]
        result["cpu_ms_per_payment"] = {"servers_workers_postgres": round(per_payment * 1000, 1),
                                        "load_client": round(client / result["completed"] * 1000, 1)}
        result["cpu_ms_per_payment"]["by_component"] = {
            name: round(seconds / result["completed"] * 1000, 1) for name, seconds in sorted(parts.items())}
        result["cpu_ms_per_payment"]["redis_server"] = round(redis_cpu / result["completed"] * 1000, 1)
        result["cpu_bound_payments_per_s"] = round((os.cpu_count() or 1) / per_payment, 1) if per_payment else None
    result["rq_workers"] = cfg.payments_workers
    if result.get("completed_per_s"):
        result["ratio_to_target"] = round(result["completed_per_s"] / PAYMENTS_TARGET, 2)
    if result["completed"]:
        cfg.payment_users = users[: cfg.users]  # they each have a transaction now
    print(f"[bench] payments e2e: {result['completed_per_s']} completed/s, web p50 {result['web_p50_ms']} ms, "
          f"p99 {result['web_p99_ms']} ms, outcomes {result['outcomes']}; queues drained "
          f"{result['after_load']['drain_seconds']} s after the load, left {result['after_load']['left'] or 'none'}",
          flush=True)
    return result


def redis_server_pid(app) -> int | None:
    """The local Redis server's pid, when it runs on this box (its CPU is part of what a payment costs)."""
    try:
        return int(app.extensions["redis"].info("server")["process_id"])
    except Exception:  # noqa: BLE001 - a remote or restricted Redis: not counted
        return None


def cpu_by_component(procs, before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """CPU seconds between two snapshots, by bench process name (workers summed), PostgreSQL the rest."""
    owner = {}
    for proc in procs.children:
        for pid in after:
            try:
                if os.getpgid(pid) == proc.pid:
                    owner[pid] = proc.bench_name.rstrip("0123456789-") or proc.bench_name
            except OSError:
                continue
    out: dict[str, float] = {}
    for pid, cpu in after.items():
        name = owner.get(pid, "postgresql")
        out[name] = out.get(name, 0.0) + cpu - before.get(pid, 0.0)
    return out


def rq(cfg, procs, conn) -> list[dict]:
    receiver_port = cfg.port + 5
    receiver = procs.gunicorn("rq-receiver", "bench.baseline_apps:bare", receiver_port, ready_path="/ping")
    out = []
    for kind in ("trivial", "delivery"):
        for fork in (False, True):
            # Sized for a few seconds each: a forked job and a delivery cost several trivial jobs.
            n = max(20, cfg.rq_jobs // ((5 if fork else 1) * (3 if kind == "delivery" else 1)))
            print(f"[bench] rq {kind} {'fork' if fork else 'simple'}: {n} jobs", flush=True)
            result = rq_bench.measure(procs, conn, cfg.pay_app, kind=kind, fork=fork, n=n,
                                      receiver_url=f"http://127.0.0.1:{receiver_port}",
                                      cpu_groups=[receiver.pid], backend_pids=cfg.backend_pids)
            print(f"[bench]   {result.get('jobs_per_s')} jobs/s", flush=True)
            out.append(result)
    n = max(20, cfg.rq_jobs // 3)
    print(f"[bench] rq integrator webhook delivery vs bare POST job: {n} jobs, alternating", flush=True)
    webhooks = rq_bench.compare_webhook_delivery(procs, conn, cfg.sub_app, f"http://127.0.0.1:{receiver_port}", n,
                                                 rounds=1 if cfg.quick else 2, cpu_groups=[receiver.pid],
                                                 backend_pids=cfg.backend_pids)
    procs.stop(receiver)
    for r in out:  # a delivery is paired with the trivial job of the same worker class
        trivial = next((t for t in out if t["kind"] == "trivial" and t["worker_class"] == r["worker_class"]), {})
        if r["kind"] == "delivery" and r.get("jobs_per_s") and trivial.get("jobs_per_s"):
            r["ceiling"] = f"trivial {r['worker_class']}"
            r["ratio"] = round(r["jobs_per_s"] / trivial["jobs_per_s"], 2)
        elif r["kind"] == "trivial" and r.get("jobs_per_s"):
            r["ceiling"] = f"target {RQ_TARGET:g}"
            r["ratio"] = round(r["jobs_per_s"] / RQ_TARGET, 2)
    return out + webhooks


def rq_compare(cfg, conn) -> list[dict]:
    """Stock SimpleWorker against jobs.worker.BillingWorker, alternating in this process (trivial jobs)."""
    jobs = max(100, cfg.rq_jobs // 2)
    out = rq_bench.compare_workers(conn, jobs=jobs, rounds=2 if cfg.quick else 6)
    for r in out:
        print(f"[bench] rq-compare {r['worker_class']}: {r['jobs_per_s']} jobs/s, "
              f"{r['redis_round_trips_per_job']} Redis round trips/job", flush=True)
    return out
