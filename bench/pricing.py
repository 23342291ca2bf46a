"""What `make bench`'s figures are compared against: ratios to the same run's ceilings, and floors.

A floor prices each step of a payment (or of a bill run's renewal) at the cheapest thing the same run
measured that does at least that much work; `floor/N` is the payments rate offered from it.
"""
from __future__ import annotations

from bench.phases import PAYMENTS_TARGET

FALLBACK_PAYMENTS_RATE = 20.0  # offered when floor/N cannot be priced (--only without ceilings or rq)
PAYMENTS_GOAL_RATIO, PAYMENTS_GOAL_P99_MS = 0.5, 100.0  # issue #20: 0.5 of the floor, web p99 under 100 ms


def parse_payments_rate(spec: str) -> tuple[float | None, float | None]:
    """(floor divisor, None) for "floor/N" or "floor", (None, rate) for a number."""
    text = str(spec).strip().lower()
    if text.startswith("floor"):
        rest = text[len("floor"):]
        if rest and not rest.startswith("/"):
            raise ValueError(f"{spec!r}: a number of subscriptions a second, or floor/N")
        try:
            divisor = float(rest[1:]) if rest else 1.0
        except ValueError:
            raise ValueError(f"{spec!r}: N in floor/N must be a number") from None
        if not divisor > 0:
            raise ValueError(f"{spec!r}: N in floor/N must be above 0")
        return divisor, None
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"{spec!r}: a number of subscriptions a second, or floor/N") from None
    if not rate > 0:
        raise ValueError(f"{spec!r}: the rate must be above 0")
    return None, rate


def resolve_payments_rate(args, results: dict) -> dict:
    """The rate the payments phase offers, and how it was chosen (kept in results.json and the report)."""
    if args.payments_rate_divisor is None:
        return {"rate": args.payments_rate, "rule": "fixed"}
    priced = _priced(PAYMENT_STEPS, results)
    if priced is None:
        print(f"[bench] payments: floor/{args.payments_rate_divisor:g} needs this run's ceilings and rq "
              f"(--only ceilings,rq,payments): offering {FALLBACK_PAYMENTS_RATE:g}/s instead", flush=True)
        return {"rate": FALLBACK_PAYMENTS_RATE, "rule": f"floor/{args.payments_rate_divisor:g} not priced: fixed"}
    floor_rate = (results["meta"]["cpu_count"] or 1) * 1000 / priced[1]
    divisor = args.payments_rate_divisor
    return {"rate": round(floor_rate / divisor, 1), "rule": f"floor/{divisor:g} = {floor_rate:.1f}/{divisor:g}"}


def add_ratios(results: dict) -> None:
    ceilings = {e["name"]: e for e in results["http"] if e.get("ceiling") is None and not e.get("skipped")}
    if results.get("bcrypt_ceiling"):
        ceilings["bcrypt"] = results["bcrypt_ceiling"]
    for e in results["http"]:
        if e.get("paired_ceiling"):
            continue  # measured alternately with its ceiling: scenarios._run_paired set its ratios
        base = ceilings.get(e.get("ceiling") or "")
        if base and not e.get("skipped") and base.get("rps"):
            e["ratio"] = round(e["rps"] / base["rps"], 2)
            if base.get("server_cpu_ms_per_request") and e.get("server_cpu_ms_per_request"):
                # The same comparison by CPU cost: steadier than req/s when the machine is shared.
                e["cpu_ratio"] = round(base["server_cpu_ms_per_request"] / e["server_cpu_ms_per_request"], 2)


# The steps one subscription payment takes (subscription_app.billing, payment_app, jobs), each priced
# at the cheapest thing this same run measured that does at least that much work.
PAYMENT_STEPS = (
    ("POST /v1/subscriptions (JWT + PostgreSQL)", "http", "jwt_pg", 1),
    ("card tokenised by the payment service (internal POST)", "http", "bare", 1),
    ("outbox delivery of the charge request, gateway answer webhook, outbox delivery of the result",
     "rq", "delivery SimpleWorker", 3),
    ("submit the charge to the gateway (job)", "rq", "trivial SimpleWorker", 1),
)


# One renewal of a bill run: the billing job's work on the row, then a payment without the customer's
# POST and card: the charge request, the gateway's answer and the result back, and the submit job.
BILL_RUN_STEPS = (
    ("renew and invoice one subscription in the billing job (one PostgreSQL read at least)", "http", "pg_read", 1),
    ("outbox delivery of the charge request, gateway answer webhook, outbox delivery of the result",
     "rq", "delivery SimpleWorker", 3),
    ("submit the charge to the gateway (job)", "rq", "trivial SimpleWorker", 1),
)


def _priced(steps, results: dict):
    """(priced steps, CPU ms in all) at this run's ceilings, or None when a ceiling was not measured."""
    http = {e["name"]: e.get("server_cpu_ms_per_request") for e in results["http"] if e.get("ceiling") is None}
    if http.get("jwt_pg") and http.get("jwt"):
        http["pg_read"] = http["jwt_pg"] - http["jwt"]  # what one PostgreSQL primary-key read adds
    rq = {f"{r['kind']} {r['worker_class']}": r.get("cpu_ms_per_job") for r in results.get("rq", [])}
    priced, total = [], 0.0
    for label, kind, ceiling, count in steps:
        cost = (http if kind == "http" else rq).get(ceiling)
        if not cost:
            return None
        priced.append({"step": label, "priced_as": ceiling, "count": count, "cpu_ms": round(cost * count, 2)})
        total += cost * count
    return priced, total


def bill_run_floor(results: dict) -> dict | None:
    """Each renewal's steps at this run's ceilings: a lower bound on its CPU, hence an upper one on settled/s."""
    priced = _priced(BILL_RUN_STEPS, results)
    runs = [r for r in results.get("bill_run", []) if r.get("settled_per_s")]
    if priced is None or not runs:
        return None
    steps, total = priced
    floor_rate = (results["meta"]["cpu_count"] or 1) * 1000 / total
    for r in runs:
        r["ratio_to_floor"] = round(r["settled_per_s"] / floor_rate, 2)
    return {"steps": steps, "cpu_ms_per_renewal": round(total, 2), "max_settled_per_s_on_this_box": round(floor_rate, 1)}


def payments_floor(results: dict) -> dict | None:
    """A lower bound on CPU per payment from this run's own ceilings, hence on what this box can complete.

    Each step costs at least its ceiling (a delivery job to an app that does nothing, a bare request, a
    trivial job), and the client's status polls are left out: if the floor already needs more cores than
    the box has, no tuning of the product's own code reaches the target here.
    """
    pay = results.get("payments_e2e") or {}
    if not pay or pay.get("skipped"):
        return None
    priced = _priced(PAYMENT_STEPS, results)
    if priced is None:
        return None  # a phase was skipped (--only): no floor
    steps, total = priced
    cores = results["meta"]["cpu_count"] or 1
    floor_rate = cores * 1000 / total
    if pay.get("completed_per_s") is not None:
        pay["ratio_to_floor"] = round(pay["completed_per_s"] / floor_rate, 2)
        pay["goal"] = payments_goal(pay, floor_rate)
    return {"steps": steps, "cpu_ms_per_payment": round(total, 1),
            "max_payments_per_s_on_this_box": round(floor_rate, 1),
            "cores_needed_for_target_at_floor": round(PAYMENTS_TARGET * total / 1000, 1),
            "cores_needed_for_target_as_measured": round(
                PAYMENTS_TARGET * pay["cpu_ms_per_payment"]["servers_workers_postgres"] / 1000, 1)
            if pay.get("cpu_ms_per_payment") else None}


def payments_goal(pay: dict, floor_rate: float) -> dict:
    """Issue #20: at an offered rate of at least 0.5 of the floor, 0.5 of it completed with web p99 < 100 ms."""
    need = PAYMENTS_GOAL_RATIO * floor_rate
    # The 0.05 rounding slack: floor/2 is offered rounded to 0.1/s.
    offered_enough = pay["offered_per_s"] >= need - 0.05
    completed_enough = pay["completed_per_s"] >= need - 0.05
    fast_enough = pay.get("web_p99_ms") is not None and pay["web_p99_ms"] < PAYMENTS_GOAL_P99_MS
    return {"completed_per_s_needed": round(need, 1), "web_p99_ms_under": PAYMENTS_GOAL_P99_MS,
            "offered_enough": offered_enough, "completed_enough": completed_enough, "web_p99_ok": fast_enough,
            "met": offered_enough and completed_enough and fast_enough}
