"""The HTTP scenarios: what each sends, which ceiling it is compared with, and how it is run.

Pairing (product -> ceiling), each the cheapest app doing the same unavoidable work:
  GET /v1/auth/me, GET /v1/subscriptions/active,
  GET /v1/payments/transactions        -> jwt_pg       (JWT check + one PostgreSQL read)
  POST /v1/usage/features/.../use      -> jwt_evalsha  (JWT check + one Redis EVALSHA)
  POST /v1/webhooks/payment            -> jwt_pg       (HMAC check + one PostgreSQL write; a JWT
                                                        check costs about what the HMAC does)
  POST /v1/auth/login                  -> bcrypt       (CPUs / one bcrypt check at BCRYPT_ROUNDS)
"""
from __future__ import annotations

import json
import os
import statistics
import time
import urllib.error
import urllib.request
import uuid

import bcrypt

from bench import wrk
from bench.fixtures import route_exists
from bench.procs import cpu_seconds, cpu_used
from core.http import encode
from core.security import SERVICE_TOKEN_HEADER, signature_headers

JSON = {"Content-Type": "application/json"}


def bearer(user: dict) -> dict:
    return {"Authorization": f"Bearer {user['token']}"}


def per_user(users: list[dict], body: dict | None = None, extra: dict | None = None) -> list[tuple[dict, bytes]]:
    payload = json.dumps(body).encode() if body is not None else b""
    headers = {**(JSON if body is not None else {}), **(extra or {})}
    return [({**bearer(u), **headers}, payload) for u in users]


def logins(users: list[dict], password: str) -> list[tuple[dict, bytes]]:
    return [(JSON, json.dumps({"email": u["email"], "password": password}).encode()) for u in users]


def signed_webhooks(settings, count: int) -> list[tuple[dict, bytes]]:
    """`count` payment webhooks, each with a fresh event id, signed now (the tolerance is 300 s).

    Typeless events, as in the public README's example: the receiver verifies the
    signature, records the event id in its inbox and acknowledges it.
    """
    out = []
    ts = int(time.time())
    for _ in range(count):
        event_id = str(uuid.uuid4())
        body = encode({"event_id": event_id, "status": "success"})
        headers = {**JSON, **signature_headers(settings.webhook_signing_secret, body, ts),
                   SERVICE_TOKEN_HEADER: settings.service_to_service_secret, "X-Event-ID": event_id}
        out.append((headers, body))
    return out


def bcrypt_ceiling(rounds: int, samples: int = 3) -> dict:
    """Logins/s the CPUs could do if a login were nothing but its one bcrypt check."""
    hashed = bcrypt.hashpw(b"bench-password-1", bcrypt.gensalt(rounds=rounds))
    started = time.perf_counter()
    for _ in range(samples):
        bcrypt.checkpw(b"bench-password-1", hashed)
    per_check = (time.perf_counter() - started) / samples
    cpus = os.cpu_count() or 1
    return {"rps": round(cpus / per_check, 1), "bcrypt_check_ms": round(per_check * 1000, 1), "cpus": cpus,
            "bcrypt_rounds": rounds}


def probe(base_url: str, method: str, path: str, headers: dict, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(base_url + path, data=body if method != "GET" else None, headers=headers,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(300).decode(errors="replace")


def run_http(name: str, *, port: int, method: str, path: str, requests: list[tuple[dict, bytes]], cfg,
             ceiling: str | None = None, app=None, connections: int | None = None, timeout: str = "5s",
             note: str = "", server_pgid: int | None = None, paired: dict | None = None,
             unique_ids: bool = False) -> dict:
    """Probe once (a missing route or an error answer skips the scenario), then wrk it.

    With `paired` (a ceiling still running: its url, request_file and server_pgid), each measured run
    of the product directly follows a run of its ceiling, and the ratio is the median of the per-run
    ratios: on a shared machine whose speed drifts over minutes, both sides of a ratio see the same
    conditions. With `unique_ids`, every "@ID@" in a body is made unique per request (bench/lua/replay.lua).
    """
    entry = {"name": name, "method": method, "path": path, "ceiling": ceiling, "port": port}
    if note:
        entry["note"] = note
    if app is not None and not route_exists(app, method, path):
        print(f"[bench] {name}: skipped, {method} {path} is not routed on this branch", flush=True)
        return {**entry, "skipped": "skipped: endpoint missing"}
    base = f"http://127.0.0.1:{port}"
    status, text = probe(base, method, path, *requests[0])
    if status in (404, 405) and app is None:
        return {**entry, "skipped": "skipped: endpoint missing"}
    if status >= 400:
        print(f"[bench] {name}: probe answered {status}: {text[:200]}", flush=True)
        return {**entry, "skipped": f"failed: probe HTTP {status}: {text[:120]}"}
    replay = requests[1:] if len(requests) > 1 else requests
    host = f"127.0.0.1:{port}"
    raws = [wrk.raw_request(method, host, path, headers, body) for headers, body in replay]
    os.makedirs(cfg.work_dir, exist_ok=True)
    request_file = wrk.write_requests(os.path.join(cfg.work_dir, f"{name.replace('/', '_')}.req"), raws)
    conns = connections or cfg.connections
    print(f"[bench] {name}: wrk -c{conns} {cfg.warmup:g}s warm-up + {cfg.repeats}x{cfg.duration:g}s", flush=True)
    if cfg.warmup:
        wrk.run(base + path, request_file, duration=cfg.warmup, connections=conns, timeout=timeout,
                unique_ids=unique_ids)
    # CPU of the server's processes and its PostgreSQL backends (not the shared Redis): a figure
    # that noisy neighbours on the machine disturb far less than requests/s.
    groups = [server_pgid] if server_pgid else []
    if paired:
        return _run_paired(entry, base + path, request_file, paired, cfg, conns, timeout, groups, len(raws),
                           unique_ids)
    before = cpu_seconds(groups, cfg.backend_pids())
    result = wrk.measure(base + path, request_file, warmup=0, duration=cfg.duration,
                         repeats=cfg.repeats, connections=conns, timeout=timeout, unique_ids=unique_ids)
    used = cpu_used(before, cpu_seconds(groups, cfg.backend_pids()))
    summary = result.summary()
    entry.update(summary, connections=conns, distinct_requests=len(raws))
    if groups and summary["requests"]:
        entry["server_cpu_ms_per_request"] = round(used / summary["requests"] * 1000, 3)
    print(f"[bench] {name}: {summary['rps']:.0f} req/s, p50 {summary['p50_ms']:.2f} ms, "
          f"p99 {summary['p99_ms']:.2f} ms, errors {summary['errors']}", flush=True)
    return entry


def _timed_run(cfg, url: str, request_file: str, groups: list[int], conns: int, timeout: str,
               unique_ids: bool = False):
    """One wrk run and the CPU its server (and the PostgreSQL backends) spent on it."""
    before = cpu_seconds(groups, cfg.backend_pids())
    run = wrk.run(url, request_file, duration=cfg.duration, connections=conns, timeout=timeout,
                  unique_ids=unique_ids)
    return run, cpu_used(before, cpu_seconds(groups, cfg.backend_pids()))


def _run_paired(entry: dict, url: str, request_file: str, paired: dict, cfg, conns: int, timeout: str,
                groups: list[int], distinct: int, unique_ids: bool = False) -> dict:
    ceiling_groups = [paired["server_pgid"]]
    if cfg.warmup:
        wrk.run(paired["url"], paired["request_file"], duration=cfg.warmup, connections=conns, timeout=timeout,
                unique_ids=unique_ids)
    product, ceiling = wrk.WrkResult(), wrk.WrkResult()
    product_cpu = ceiling_cpu = 0.0
    for _ in range(cfg.repeats):
        run, used = _timed_run(cfg, paired["url"], paired["request_file"], ceiling_groups, conns, timeout, unique_ids)
        ceiling.runs.append(run)
        ceiling_cpu += used
        run, used = _timed_run(cfg, url, request_file, groups, conns, timeout, unique_ids)
        product.runs.append(run)
        product_cpu += used
    summary, base = product.summary(), ceiling.summary()
    ratios = [p.rps / c.rps for p, c in zip(product.runs, ceiling.runs) if c.rps]
    entry.update(summary, connections=conns, distinct_requests=distinct)
    entry["paired_ceiling"] = {k: base[k] for k in ("rps", "p50_ms", "p99_ms", "errors", "requests", "runs")}
    if ratios:
        entry["ratio"] = round(statistics.median(ratios), 2)
        entry["ratio_runs"] = [round(r, 3) for r in ratios]
    if groups and summary["requests"] and base["requests"]:
        entry["server_cpu_ms_per_request"] = round(product_cpu / summary["requests"] * 1000, 3)
        entry["paired_ceiling"]["server_cpu_ms_per_request"] = round(ceiling_cpu / base["requests"] * 1000, 3)
        entry["cpu_ratio"] = round(entry["paired_ceiling"]["server_cpu_ms_per_request"]
                                   / entry["server_cpu_ms_per_request"], 2)
    print(f"[bench] {entry['name']}: {summary['rps']:.0f} req/s (its ceiling {base['rps']:.0f} in the same "
          f"runs), ratio {entry.get('ratio')}, p50 {summary['p50_ms']:.2f} ms, p99 {summary['p99_ms']:.2f} ms, "
          f"errors {summary['errors']}", flush=True)
    return entry
