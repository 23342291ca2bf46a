"""The `usage-events` scenario: POST /v1/usage/events with 100-event batches, fresh event ids, an API key.

Throughput: wrk with bench/lua/replay.lua's `unique` (every event id fresh per request), alternating with
its ceiling `events_evalsha` (bench/baseline_apps.py: the JSON batch read and one EVALSHA). Latency:
an open loop (bench/loadclient.py) at half the measured batches/s, each batch posted on schedule
whatever the server's pace, so a slow answer cannot hold the next one back (wrk's closed loop would).
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import time
import uuid
from collections import Counter

from bench import e2e, fixtures, scenarios, wrk
from bench.loadclient import Pool, offer
from bench.phases import redis_server_pid
from bench.procs import cpu_seconds, cpu_used
from core import clock
from core.extensions import db
from subscription_app.catalog.audit import CLI
from subscription_app.seed import ENTERPRISE_MONTHLY_ID
from subscription_app.usage import api_keys

BATCH = 100
PATH = "/v1/usage/events"
CEILING = "events_evalsha"
GOAL_EVENTS_PER_S = 20_000
GOAL_P99_MS = 50.0
FEATURE = "api_calls"


def create_api_key(app) -> str:
    """An operator's API key, made the way POST /v1/admin/api-keys makes it; its plaintext."""
    with app.app_context():
        _, plaintext = api_keys.create("bench", CLI)
        db.session.commit()
        db.session.remove()
    return plaintext


def batch(users: list[dict], offset: int, at: str, ids: str = "@ID@") -> dict:
    """`BATCH` events of one api_call each, spread over the users (an operator reports many customers)."""
    return {"events": [{"event_id": f"{ids}-{i}", "customer": users[(offset + i) % len(users)]["id"],
                        "feature": FEATURE, "quantity": 1, "timestamp": at} for i in range(BATCH)]}


def templates(users: list[dict], key: str, at: str, count: int = 5) -> list[tuple[dict, bytes]]:
    """Requests for replay.lua's `unique` (it makes "@ID@" fresh per request); the first is only the probe."""
    headers = {**scenarios.JSON, "X-Api-Key": key}
    return [(headers, json.dumps(batch(users, n * 7, at)).encode()) for n in range(count)]


async def _open_loop(host: str, port: int, headers: dict, bodies: list[dict], rate: float, connections: int):
    pool = Pool(host, port, connections)

    async def one(body):
        try:
            response = await pool.request("POST", PATH, headers, body)
        except (OSError, asyncio.TimeoutError) as exc:
            return f"client error {exc.__class__.__name__}", None
        return response.status, response.latency

    tasks, start, _ = await offer(bodies, rate, one)
    answers = await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    await pool.close()
    return answers, elapsed


def latency_at(port: int, users: list[dict], key: str, at: str, *, rate: float, seconds: float,
               connections: int = 32) -> dict:
    """p50/p99 per batch when batches are offered at `rate` per second (open loop)."""
    headers = {"X-Api-Key": key}
    run = uuid.uuid4().hex
    bodies = [batch(users, n, at, ids=f"{run}-{n}") for n in range(max(1, int(rate * seconds)))]
    answers, elapsed = asyncio.run(_open_loop("127.0.0.1", port, headers, bodies, rate, connections))
    statuses = Counter(str(status) for status, _ in answers)
    latencies = [latency for status, latency in answers if status == 200]

    def p(q):
        value = e2e.percentile(latencies, q)
        return round(value * 1000, 2) if value is not None else None

    return {"offered_batches_per_s": round(rate, 1), "batches": len(bodies),
            "achieved_batches_per_s": round(len(bodies) / elapsed, 1) if elapsed else None,
            "statuses": dict(statuses), "p50_ms": p(50), "p99_ms": p(99), "max_ms": p(100)}


def _box_busy_seconds() -> float:
    """CPU seconds every process on the box has spent (all cores, /proc/stat's first line without idle)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _client_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_per_batch(cfg, server_pgid: int, measure) -> tuple[object, dict]:
    """`measure()`'s answer and the CPU ms each part of the box spent per batch while it ran.

    The whole box is what 200 batches/s must fit in (two cores: 10 ms a batch); the parts say where it goes.
    """
    backends, redis_pid = cfg.backend_pids(), redis_server_pid(cfg.sub_app)
    redis = [redis_pid] if redis_pid else []
    before = (cpu_seconds([server_pgid]), cpu_seconds([], backends), cpu_seconds([], redis), _client_seconds(),
              _box_busy_seconds())
    result, batches = measure()
    after = (cpu_seconds([server_pgid]), cpu_seconds([], backends + cfg.backend_pids()), cpu_seconds([], redis),
             _client_seconds(), _box_busy_seconds())
    spent = [cpu_used(before[i], after[i]) for i in range(3)] + [after[3] - before[3], after[4] - before[4]]
    names = ("gunicorn", "postgres", "redis", "load_client", "whole_box")
    return result, {name: round(s / batches * 1000, 2) if batches else None for name, s in zip(names, spent)}


def phase(cfg, procs) -> dict:
    """Both parts of the scenario; the subscription service is already up on cfg.port + 10."""
    port, ceiling_port = cfg.port + 10, cfg.port + 4
    # Their own users (Enterprise: 100,000 api_calls a period, far above what a run sends each).
    users = fixtures.create_users(cfg.sub_app, "events", cfg.users, subscribed_plan_id=ENTERPRISE_MONTHLY_ID)
    key = create_api_key(cfg.sub_app)
    at = clock.utcnow().isoformat()  # inside the users' open period, and never in the future
    ceiling = procs.gunicorn(f"ceiling-{CEILING}", f"bench.baseline_apps:{CEILING}", ceiling_port,
                             ready_path="/ping")
    try:
        host = f"127.0.0.1:{ceiling_port}"
        request_file = wrk.write_requests(
            f"{cfg.work_dir}/{CEILING}.req",
            [wrk.raw_request("POST", host, "/events", h, body) for h, body in templates(users, key, at)])
        entry = scenarios.run_http(
            "usage events", port=port, method="POST", path=PATH, requests=templates(users, key, at), cfg=cfg,
            ceiling=CEILING, app=cfg.sub_app, server_pgid=cfg.servers["subscription"].pid, unique_ids=True,
            paired={"url": f"http://{host}/events", "request_file": request_file, "server_pgid": ceiling.pid})
    finally:
        procs.stop(ceiling)
    if entry.get("skipped") or not entry.get("rps"):
        return entry
    entry["batch_size"] = BATCH
    entry["events_per_s"] = round(entry["rps"] * BATCH)
    entry["ceiling_events_per_s"] = round(entry["paired_ceiling"]["rps"] * BATCH)
    half = entry["rps"] / 2
    print(f"[bench] usage events: open loop at {half:.0f} batches/s (half) for {cfg.duration}s", flush=True)

    def at_half():
        answer = latency_at(port, users, key, at, rate=half, seconds=cfg.duration)
        return answer, answer["statuses"].get("200", 0)

    entry["at_half_rate"], entry["at_half_rate"]["cpu_ms_per_batch"] = cpu_per_batch(
        cfg, cfg.servers["subscription"].pid, at_half)
    entry["goal"] = {"events_per_s": GOAL_EVENTS_PER_S, "p99_ms_at_half_rate": GOAL_P99_MS}
    entry["note"] = (f"{BATCH}-event batches: {entry['events_per_s']:,} events/s (ceiling "
                     f"{entry['ceiling_events_per_s']:,}; goal {GOAL_EVENTS_PER_S:,}); at half rate p99 "
                     f"{entry['at_half_rate']['p99_ms']} ms (goal < {GOAL_P99_MS:g}), CPU ms per batch "
                     f"{entry['at_half_rate']['cpu_ms_per_batch']}")
    print(f"[bench] usage events: {entry['note']}", flush=True)
    return entry
