"""End-to-end payment benchmark against running services (gateway delay as configured, 1-3 s by default).

    python -m scripts.bench_payments --payments 300 --concurrency 16

Registers a fresh user on the subscription service, fires POST /v1/payments/process with the
success card from `--concurrency` threads, and records each call's web latency. Then it watches
the transactions in PostgreSQL (DATABASE_URL) until every one is final, and prints: web p50/p99,
end-to-end p50/p99 (created -> succeeded/failed, which includes the gateway's delay), and how
many payments per second completed end to end (from the first request to the last final state).
"""
from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import requests

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
_local = threading.local()


def _session() -> requests.Session:
    if not hasattr(_local, "s"):
        _local.s = requests.Session()
    return _local.s


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--payment-url", default=os.environ.get("PAYMENT_SERVICE_URL", "http://127.0.0.1:8002"))
    parser.add_argument("--subscription-url",
                        default=os.environ.get("SUBSCRIPTION_SERVICE_URL", "http://127.0.0.1:8001"))
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/billing"))
    parser.add_argument("--timeout", type=float, default=300.0, help="Seconds to wait for every final state")
    args = parser.parse_args()

    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    reg = requests.post(f"{args.subscription_url}/v1/auth/register",
                        json={"email": email, "password": "bench-password-1"}, timeout=10)
    reg.raise_for_status()
    headers = {"Authorization": f"Bearer {reg.json()['access_token']}"}
    body = {"amount_cents": 1000, "currency": "USD", "description": "bench", "card": CARD}

    def one(_):
        started = time.perf_counter()
        r = _session().post(f"{args.payment_url}/v1/payments/process", json=body, headers=headers, timeout=30)
        return time.perf_counter() - started, r.status_code, (r.json() or {}).get("id")

    t0 = time.time()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(one, range(args.payments)))
    submitted = time.time() - t0
    ids = [i for _, code, i in results if code == 202]
    web = [d * 1000 for d, _, _ in results]
    codes = {}
    for _, code, _ in results:
        codes[code] = codes.get(code, 0) + 1

    conn = psycopg2.connect(args.database_url)
    conn.autocommit = True
    deadline = time.time() + args.timeout
    with conn.cursor() as cur:
        while True:
            cur.execute("SELECT count(*) FROM transactions WHERE id = ANY(%s::uuid[]) AND status <> 'pending'",
                        (ids,))
            done = cur.fetchone()[0]
            if done == len(ids) or time.time() > deadline:
                break
            time.sleep(0.25)
        cur.execute("SELECT status, EXTRACT(EPOCH FROM updated_at - created_at), "
                    "EXTRACT(EPOCH FROM updated_at) FROM transactions WHERE id = ANY(%s::uuid[])", (ids,))
        rows = cur.fetchall()
    final = [r for r in rows if r[0] != "pending"]
    e2e = [float(r[1]) for r in final]
    last_final = max(float(r[2]) for r in final) if final else t0
    elapsed = last_final - t0
    statuses = {}
    for r in rows:
        statuses[r[0]] = statuses.get(r[0], 0) + 1

    print(f"requests: {args.payments} at concurrency {args.concurrency}; HTTP codes {codes}; "
          f"submitted in {submitted:.2f}s ({args.payments / submitted:.1f} req/s)")
    print(f"web latency ms: p50 {_pct(web, 50):.1f}  p99 {_pct(web, 99):.1f}  max {max(web):.1f}")
    print(f"final states: {statuses} ({len(final)}/{len(ids)})")
    if e2e:
        print(f"end to end s (created -> final): p50 {statistics.median(e2e):.2f}  p99 {_pct(e2e, 99):.2f}  "
              f"max {max(e2e):.2f}")
        print(f"completed end to end: {len(final)} in {elapsed:.2f}s = {len(final) / elapsed:.1f} payments/s")


if __name__ == "__main__":
    main()
