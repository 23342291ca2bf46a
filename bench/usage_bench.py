#!/usr/bin/env python
"""Benchmark of POST /v1/usage/features/{f}/use next to a bare Flask + JWT + EVALSHA baseline.

    python bench/usage_bench.py [--duration 10] [--repeats 3] [--connections 16] [--users 50]

Starts, on loopback, the subscription app (gunicorn -c gunicorn.conf.py, port
SUBSCRIPTION_PORT or 8201) and the `jwt_evalsha` ceiling of bench/baseline_apps.py (the
one `make bench` uses) under the same gunicorn settings
(port PAYMENT_PORT or 8202), both against DATABASE_URL / REDIS_URL (export your own).
Prepares a plan with a cap no run can reach and N subscribed users, then drives both with
wrk (bench/wrk_use.lua rotates the users' tokens):

1. warm-up runs, discarded;
2. saturation: `repeats` closed-loop runs of each app, alternating, median requests/s and
   p50/p99; ratio = use / baseline;
3. half load: wrk has no rate limit (wrk2 is not packaged), so each of C connections
   waits BENCH_DELAY_MS between its requests (wrk's delay() hook); a short probe run
   measures the latency share so that C / (delay + latency) ~ half the measured
   saturating rate. The achieved rate is reported next to p99. Latency is
   measured per request from send, so it is closed-loop (no coordinated-omission fix),
   which is fair at half load where the queue is short.

Gunicorn settings come from the environment (WEB_CONCURRENCY, GUNICORN_THREADS,
GUNICORN_WORKER_CLASS) and apply to both apps. Prints a table and a JSON line.

On a shared machine requests/s move with other people's load, so the report also gives
each server's own CPU time per request (utime+stime of the gunicorn master and workers
from /proc over each run) and the ratio of those: a load-independent cost comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
LUA = os.path.join(REPO, "bench", "wrk_use.lua")
FEATURE = "bench_calls"
USE_PATH = f"/v1/usage/features/{FEATURE}/use"
BASELINE_PATH = "/evalsha"  # bench/baseline_apps.py: JWT check + one EVALSHA, no revocation lookup
PLAN_CODE = "usage_bench"


def prepare(users: int) -> list[str]:
    """Migrate, then create the bench plan, users and live subscriptions; returns their tokens."""
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi:subscription_app", "db", "upgrade"],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from sqlalchemy import select

    from core import clock, tokens
    from core.extensions import db
    from core.security import hash_password
    from subscription_app import create_app
    from subscription_app.models import Plan, Subscription, User

    app = create_app()
    with app.test_request_context():
        plan = db.session.scalar(select(Plan).where(Plan.code == PLAN_CODE))
        if plan is None:
            plan = Plan(code=PLAN_CODE, name="Usage bench", price_cents=0, currency="USD",
                        feature_limits={FEATURE: 10**15}, is_active=False)
            db.session.add(plan)
        password = hash_password("bench-password-1", 4)
        result = []
        for n in range(users):
            email = f"usage-bench-{n}@example.com"
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(email=email, password_hash=password)
                db.session.add(user)
                db.session.flush()
            live = db.session.scalar(select(Subscription).where(
                Subscription.user_id == user.id, Subscription.status.in_(("active", "trialing", "past_due"))))
            if live is None:
                now = clock.utcnow()
                db.session.add(Subscription(user_id=user.id, plan_id=plan.id, status="active",
                                            current_period_start=now - timedelta(days=1),
                                            current_period_end=now + timedelta(days=29),
                                            billing_cycle_anchor=now - timedelta(days=1)))
            db.session.commit()
            result.append(tokens.issue_tokens(user)["access_token"])
        db.engine.dispose()
    return result


def start(target: str, port: int, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
                             target], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    health = "/ping" if "baseline" in target else "/v1/health"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"{target} did not start on port {port}")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(master: subprocess.Popen) -> float:
    """User + system CPU of a gunicorn master and its workers (from /proc): load-independent cost."""
    pids = [master.pid]
    try:
        with open(f"/proc/{master.pid}/task/{master.pid}/children") as fh:
            pids += [int(p) for p in fh.read().split()]
    except OSError:
        pass
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / CLOCK_TICKS


def wrk(port: int, duration: float, connections: int, threads: int, tokens_file: str, delay_ms: int = 0,
        server: subprocess.Popen | None = None, path: str = USE_PATH) -> dict:
    cpu_before = server_cpu_seconds(server) if server else 0.0
    env = {**os.environ, "BENCH_TOKENS_FILE": tokens_file, "BENCH_DELAY_MS": str(delay_ms),
           "BENCH_PATH": path}
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
                          "-s", LUA, f"http://127.0.0.1:{port}"], env=env, capture_output=True, text=True,
                         check=True).stdout
    data = json.loads(re.search(r"^RESULT (.*)$", out, re.M).group(1))
    data["rps"] = round(data["requests"] / (data["duration_us"] / 1e6), 1)
    if server:
        data["cpu_ms_per_request"] = (server_cpu_seconds(server) - cpu_before) * 1000 / max(data["requests"], 1)
    return data


def median_of(runs: list[dict]) -> dict:
    return {"rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000,
            "errors": sum(r["non2xx"] + r["socket_errors"] for r in runs),
            "cpu_ms_per_request": round(statistics.median(r.get("cpu_ms_per_request", 0) for r in runs), 3),
            "runs_rps": [r["rps"] for r in runs]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of discarded warm-up per app")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16, help="wrk connections at saturation")
    parser.add_argument("--half-connections", type=int, default=16, help="wrk connections at half load")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (2 cores: leave 1 to the servers)")
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    use_port = int(os.environ.get("SUBSCRIPTION_PORT", "8201"))
    base_port = int(os.environ.get("PAYMENT_PORT", "8202"))
    tokens = prepare(args.users)
    load_before = os.getloadavg()
    env = {**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "warning")}
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as fh:
        fh.write("\n".join(tokens) + "\n")
        tokens_file = fh.name
    procs = []
    try:
        procs.append(start("wsgi:subscription_app", use_port, env))
        procs.append(start("bench.baseline_apps:jwt_evalsha", base_port, env))
        ports = {"use": use_port, "baseline": base_port}
        paths = {"use": USE_PATH, "baseline": BASELINE_PATH}
        servers = {"use": procs[0], "baseline": procs[1]}
        for name, port in ports.items():
            wrk(port, args.warmup, args.connections, args.threads, tokens_file, path=paths[name])
        runs: dict[str, list] = {"use": [], "baseline": []}
        for _ in range(args.repeats):
            for name, port in ports.items():
                runs[name].append(wrk(port, args.duration, args.connections, args.threads, tokens_file,
                                      server=servers[name], path=paths[name]))
        sat = {name: median_of(r) for name, r in runs.items()}
        half_target = sat["use"]["rps"] / 2
        # Each connection waits delay + its own latency per request: calibrate the latency share.
        delay_ms = max(1, round(args.half_connections * 1000 / half_target))
        for _ in range(3):  # a few short probes: rate = C / (delay + latency), latency measured
            probe = wrk(use_port, max(2, args.warmup), args.half_connections, args.threads, tokens_file, delay_ms)
            if abs(probe["rps"] / half_target - 1) < 0.1:
                break
            latency_ms = max(0.0, args.half_connections * 1000 / probe["rps"] - delay_ms)
            delay_ms = max(1, round(args.half_connections * 1000 / half_target - latency_ms))
        half_runs = [wrk(use_port, args.duration, args.half_connections, args.threads, tokens_file, delay_ms,
                         server=procs[0]) for _ in range(args.repeats)]
        half = median_of(half_runs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        os.unlink(tokens_file)
    ratio = sat["use"]["rps"] / sat["baseline"]["rps"]
    settings = {k: os.environ.get(k) for k in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS")}
    print(f"gunicorn env: {settings}; wrk -t{args.threads} -c{args.connections}, {args.duration}s x {args.repeats}")
    print(f"load average before/after: {load_before} / {os.getloadavg()}")
    print(f"{'':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'cpu ms/req':>11}  runs")
    for name in ("baseline", "use"):
        s = sat[name]
        print(f"{name:10} {s['rps']:9.1f} {s['p50_ms']:8.2f} {s['p99_ms']:8.2f} {s['errors']:7d} "
              f"{s['cpu_ms_per_request']:11.3f}  {s['runs_rps']}")
    cpu_ratio = sat["baseline"]["cpu_ms_per_request"] / max(sat["use"]["cpu_ms_per_request"], 1e-9)
    print(f"ratio use/baseline = {ratio:.2f} (target >= 0.7); by server CPU per request = {cpu_ratio:.2f}")
    print(f"half load: target {half_target:.0f} req/s ({args.half_connections} connections, {delay_ms} ms apart): "
          f"achieved {half['rps']:.1f} req/s, p50 {half['p50_ms']:.2f} ms, p99 {half['p99_ms']:.2f} ms "
          f"(target < 20 ms), errors {half['errors']}")
    print("JSON " + json.dumps({"saturation": sat, "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3),
                                "load_average": [load_before, os.getloadavg()], "half_load": {
        **half, "target_rps": round(half_target, 1), "delay_ms": delay_ms}, "gunicorn": settings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
