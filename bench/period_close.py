"""The `period-close` scenario: N customers whose period just ended, each with usage, closed and invoiced.

Seeded with bulk SQL inserts: N users on Basic priced as the issue's operator prices it (1,000 api_calls
included, then 2 cents each), their subscriptions due now with a saved card, 1,400 api_calls in the
ledger and 1,500 in Redis (the last 100 not synced yet). Then the real bill run's renewal step
(renewals.run_renewals: the final sync of each period, its priced usage line, the renewal invoice, the
charge request in the outbox) runs in this process, and is checked: every customer gets one usage line
of 500 billable api_calls = 1,000 cents. Reported: wall time, time and CPU per customer (this process
and PostgreSQL), and how the per-customer time grows from the smallest N to the largest (linear: 1.0).
"""
from __future__ import annotations

import resource
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from bench.procs import cpu_seconds, cpu_used
from core import clock
from core.extensions import db
from core.security import hash_password
from subscription_app.billing import renewals
from subscription_app.billing.periods import next_period_end
from subscription_app.models import Invoice, InvoiceLine, Subscription, User
from subscription_app.seed import BASIC_MONTHLY_ID
from subscription_app.usage import keys, ledger, plan_pricing
from subscription_app.usage.models import UsageCounter
from subscription_app.usage.store import get_store

FEATURE = "api_calls"
PRICING = {FEATURE: {"included": 1000, "limit_mode": "soft", "model": "per_unit", "unit_amount_cents": 2}}
LEDGER_USED, LIVE_USED = 1400, 1500
EXPECTED_CENTS = (LIVE_USED - 1000) * 2
CHUNK = 5000  # rows per INSERT statement


def price_basic() -> None:
    plan_pricing.replace(BASIC_MONTHLY_ID, PRICING)
    db.session.commit()


def seed(tag: str, n: int) -> list[int]:
    """N customers due now with usage (call inside an app context); their user ids."""
    # A whole monthly period from its anchor that ended within the last few days, so it renews once.
    start = clock.utcnow() - timedelta(days=32)
    end = next_period_end(start, start, "month")
    password_hash = hash_password("bench-password-1", 4)
    ids: list[int] = []
    for first in range(0, n, CHUNK):
        rows = [{"email": f"close-{tag}-{i}@bench.example", "password_hash": password_hash, "role": "user",
                 "first_name": "Bench", "last_name": str(i)} for i in range(first, min(n, first + CHUNK))]
        chunk = list(db.session.execute(insert(User).returning(User.id), rows).scalars())
        db.session.execute(insert(Subscription), [
            {"id": uuid.uuid4(), "user_id": uid, "plan_id": BASIC_MONTHLY_ID, "status": "active",
             "current_period_start": start, "current_period_end": end, "billing_cycle_anchor": start,
             "payment_method_id": uuid.uuid4()} for uid in chunk])
        db.session.execute(insert(UsageCounter), [
            {"user_id": uid, "feature": FEATURE, "period_start": start, "period_end": end, "used": LEDGER_USED}
            for uid in chunk])
        ids += chunk
    db.session.commit()
    pipe = get_store().client.pipeline(transaction=False)
    ttl = ledger.counter_ttl(int(end.timestamp()))
    for uid in ids:
        pipe.set(keys.counter(uid, FEATURE, int(start.timestamp())), LIVE_USED, ex=ttl)
    pipe.execute()
    return ids


def _backends() -> list[int]:
    """Every PostgreSQL backend on the bench database, this process's own included."""
    return list(db.session.execute(text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars())


def invoiced(user_ids: list[int]) -> dict:
    """What the run put on the customers' renewal invoices (usage lines, their cents)."""
    row = db.session.execute(
        select(func.count(InvoiceLine.id), func.coalesce(func.sum(InvoiceLine.amount_cents), 0),
               func.count(func.distinct(Invoice.subscription_id)))
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(Subscription, Subscription.id == Invoice.subscription_id)
        .where(InvoiceLine.kind == "usage", Subscription.user_id.in_(user_ids))).one()
    return {"usage_lines": row[0], "usage_cents": int(row[1]), "invoiced_subscriptions": row[2]}


def close(app, tag: str, n: int) -> dict:
    """Seed N due customers, run the renewal step until nothing is due, check and time it."""
    with app.app_context():
        seed_started = time.monotonic()
        user_ids = seed(tag, n)
        seeded = time.monotonic() - seed_started
        backends = _backends()
        db.session.remove()
        before = cpu_seconds([], backends)
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        result = renewals.run_renewals()
        wall = time.monotonic() - started
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        postgres = cpu_used(before, cpu_seconds([], backends + _backends()))
        check = invoiced(user_ids)
        db.session.remove()
    runner = sum(getattr(self_after, f) - getattr(self_before, f) for f in ("ru_utime", "ru_stime"))
    entry = {"customers": n, "renewed": result.done, "failed": result.failed, "seed_seconds": round(seeded, 2),
             "wall_seconds": round(wall, 2), "ms_per_customer": round(wall / n * 1000, 3),
             "customers_per_s": round(n / wall, 1) if wall else None,
             "cpu_ms_per_customer": {"runner": round(runner / n * 1000, 3),
                                     "postgresql": round(postgres / n * 1000, 3)},
             **check}
    expected = {"renewed": n, "usage_lines": n, "usage_cents": n * EXPECTED_CENTS}
    wrong = {k: (entry[k], v) for k, v in expected.items() if entry[k] != v}
    if wrong:
        entry["error"] = f"not every customer was closed and invoiced as expected (got, expected): {wrong}"
    return entry


def phase(cfg) -> dict:
    """Every N of --period-close-n in turn (each seeded just before its run), and the growth."""
    with cfg.sub_app.app_context():
        price_basic()
        db.session.remove()
    runs = []
    for n in cfg.period_close_n:
        print(f"[bench] period close: {n:,} customers with usage", flush=True)
        runs.append(close(cfg.sub_app, f"n{n}", n))
        r = runs[-1]
        print(f"[bench]   {r['wall_seconds']} s, {r['ms_per_customer']} ms per customer, "
              f"{r['usage_lines']} usage lines, {r['usage_cents']} cents{'; ' + r['error'] if r.get('error') else ''}",
              flush=True)
    out = {"runs": runs}
    if len(runs) > 1 and runs[0]["ms_per_customer"]:
        out["growth"] = {"from": runs[0]["customers"], "to": runs[-1]["customers"],
                         "per_customer_time_ratio": round(runs[-1]["ms_per_customer"] / runs[0]["ms_per_customer"], 2),
                         "linear_within_20_percent": runs[-1]["ms_per_customer"] <= 1.2 * runs[0]["ms_per_customer"]}
    return out
