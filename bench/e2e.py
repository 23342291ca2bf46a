"""Payments completed end to end per second: POST /v1/subscriptions with a card, wait until active.

Open loop: subscriptions are posted at a fixed offered rate (one new user each, so every
POST is a real first subscription), whatever the server's pace, and each is then watched with
`GET /v1/subscriptions/{id}?wait=N` (docs/api.md), which answers when the status changes: no
poll a second. A `Retry-After` answer (no free wait slot) is honoured before asking again. The
path in between is the product's real one: outbox -> RQ -> payment service -> mock gateway
(1-3 s, no worker held) -> gateway webhook -> payment outbox -> RQ -> subscription webhook -> active.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from bench.loadclient import Pool, offer

TERMINAL_FAILURES = {"incomplete_expired", "canceled", "expired", "past_due"}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class _Run:
    def __init__(self, pool: Pool, plan_id: str, wait: int, deadline: float):
        self.pool, self.plan_id, self.wait, self.deadline = pool, plan_id, wait, deadline
        # "wait": GETs that waited for a change (their latency is the wait); "get": answered at once.
        self.latencies: dict[str, list[float]] = {"post": [], "wait": [], "get": []}
        self.retry_after = 0
        self.statuses: Counter = Counter()
        self.outcomes: Counter = Counter()
        self.done: list[tuple[float, float]] = []  # (posted_at, active_at), monotonic

    async def _call(self, kind: str, method: str, path: str, headers: dict, body=None):
        response = await self.pool.request(method, path, headers, body)
        self.latencies[kind].append(response.latency)
        self.statuses[f"{method} {response.status}"] += 1
        return response

    async def one(self, user: dict) -> None:
        headers = {"Authorization": f"Bearer {user['token']}"}
        posted = time.monotonic()
        try:
            r = await self._call("post", "POST", "/v1/subscriptions", {**headers, "Idempotency-Key": uuid.uuid4().hex},
                                 {"plan_id": self.plan_id, "card": CARD})
            if r.status not in (200, 201, 202):
                self.outcomes[f"post HTTP {r.status}"] += 1
                return
            body = r.json() or {}
            body = body.get("subscription") or body  # either the subscription or {"subscription": ...}
            path = f"/v1/subscriptions/{body['id']}?wait={self.wait}"
            status = body.get("status")
            while status != "active":
                if status in TERMINAL_FAILURES:
                    self.outcomes[f"ended {status}"] += 1
                    return
                if time.monotonic() - posted > self.deadline:
                    self.outcomes["timed out"] += 1
                    return
                r = await self.pool.request("GET", path, headers, None, timeout=self.wait + 20)
                self.statuses[f"GET {r.status}"] += 1
                answer = (r.json() or {}) if r.status == 200 else {}
                status = (answer.get("subscription") or answer).get("status")
                retry = r.headers.get("retry-after")
                self.latencies["get" if retry else "wait"].append(r.latency)
                if retry and status != "active":
                    self.retry_after += 1
                    await asyncio.sleep(float(retry))
            self.done.append((posted, time.monotonic()))
            self.outcomes["active"] += 1
        except (OSError, asyncio.TimeoutError, ValueError) as exc:
            self.outcomes[f"client error {exc.__class__.__name__}"] += 1


async def _drive(host, port, users, plan_id, rate, connections, wait, deadline):
    pool = Pool(host, port, connections)
    run = _Run(pool, plan_id, wait, deadline)
    tasks, start, posting_ended = await offer(users, rate, run.one)
    await asyncio.gather(*tasks)
    await pool.close()
    return run, start, posting_ended


def run_payments(host: str, port: int, users: list[dict], plan_id: str, *, rate: float, connections: int = 256,
                 wait: int = 10, deadline: float = 30.0, settle: float = 4.0) -> dict:
    """Offer len(users)/rate seconds of load; completed/s is counted in the steady window.

    Every pending payment holds one connection while it waits, hence the large pool.

    The steady window starts `settle` seconds after the first POST (once the 1-3 s gateway
    delay has been paid for the first ones) and ends with the last POST, so neither the
    ramp-up nor the drain of the last few dilutes the rate.
    """
    run, start, posting_ended = asyncio.run(_drive(host, port, users, plan_id, rate, connections, wait, deadline))
    window_start, window_end = start + settle, posting_ended
    in_window = sum(1 for _, active in run.done if window_start <= active <= window_end)
    window = max(window_end - window_start, 1e-9)
    last = max((active for _, active in run.done), default=start)
    web = run.latencies["post"] + run.latencies["get"]  # what the server answered at once, not the waits
    ms = 1000.0

    def p(values, q):
        value = percentile(values, q)
        return round(value * ms, 3) if value is not None else None

    return {
        "offered_per_s": rate,
        "posted": len(users),
        "posting_seconds": round(posting_ended - start, 2),
        "completed": run.outcomes["active"],
        "completed_per_s": round(in_window / window, 1) if window_end > window_start else None,
        "completed_per_s_overall": round(run.outcomes["active"] / max(last - start, 1e-9), 1),
        "steady_window_s": round(window, 2),
        "outcomes": dict(run.outcomes),
        "http_statuses": dict(run.statuses),
        "web_requests": len(web),
        "web_p50_ms": p(web, 50), "web_p99_ms": p(web, 99),
        "post_p50_ms": p(run.latencies["post"], 50), "post_p99_ms": p(run.latencies["post"], 99),
        "wait_p50_ms": p(run.latencies["wait"], 50), "wait_p99_ms": p(run.latencies["wait"], 99),
        "gets_per_payment": round((len(run.latencies["wait"]) + len(run.latencies["get"])) / max(len(users), 1), 2),
        "retry_after_answers": run.retry_after,
        "e2e_p50_ms": p([a - b for b, a in run.done], 50), "e2e_p99_ms": p([a - b for b, a in run.done], 99),
        "wait_s": wait,
    }
