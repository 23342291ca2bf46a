"""The figures' yardsticks (bench/pricing.py): floors priced at the same run's ceilings, floor/N, the #20 goal."""

import pytest

from bench import pricing, report, run


def test_payments_floor_prices_every_step_at_its_ceiling():
    results = {
        "meta": {"cpu_count": 2},
        "http": [{"name": "bare", "ceiling": None, "server_cpu_ms_per_request": 0.5},
                 {"name": "jwt_pg", "ceiling": None, "server_cpu_ms_per_request": 1.5},
                 {"name": "me", "ceiling": "jwt_pg", "server_cpu_ms_per_request": 9.0}],
        "payments_e2e": {"cpu_ms_per_payment": {"servers_workers_postgres": 80.0}},
        "rq": [{"kind": "trivial", "worker_class": "SimpleWorker", "cpu_ms_per_job": 2.0},
               {"kind": "delivery", "worker_class": "SimpleWorker", "cpu_ms_per_job": 6.0}],
    }
    floor = pricing.payments_floor(results)
    # 1.5 (user POST) + 0.5 (tokenise) + 3 x 6.0 (deliveries) + 2.0 (submit job) = 22 ms
    assert floor["cpu_ms_per_payment"] == 22.0
    assert floor["max_payments_per_s_on_this_box"] == round(2 * 1000 / 22, 1)
    assert floor["cores_needed_for_target_at_floor"] == 3.3  # 150/s x 22 ms
    assert floor["cores_needed_for_target_as_measured"] == 12.0  # 150/s x 80 ms
    assert [s["count"] for s in floor["steps"]] == [1, 1, 3, 1]
    results["rq"] = results["rq"][:1]  # a skipped phase: no floor rather than a wrong one
    assert pricing.payments_floor(results) is None
    assert pricing.payments_floor({**results, "payments_e2e": {"skipped": "x"}}) is None


def _priced_results(**payments):
    """A run's ceilings and rq rows pricing the payments floor at 22 ms (90.9/s on 2 cores)."""
    return {
        "meta": {"cpu_count": 2},
        "http": [{"name": "bare", "ceiling": None, "server_cpu_ms_per_request": 0.5, "rps": 4000.0, "p50_ms": 1.0,
                  "p99_ms": 2.0},
                 {"name": "jwt_pg", "ceiling": None, "server_cpu_ms_per_request": 1.5, "rps": 1000.0, "p50_ms": 4.0,
                  "p99_ms": 8.0}],
        "rq": [{"kind": "trivial", "worker_class": "SimpleWorker", "cpu_ms_per_job": 2.0, "jobs": 10, "finished": 10},
               {"kind": "delivery", "worker_class": "SimpleWorker", "cpu_ms_per_job": 6.0, "jobs": 10, "finished": 10}],
        **({"payments_e2e": payments} if payments else {}),
    }


@pytest.mark.parametrize("spec, parsed", [("floor/2", (2.0, None)), ("FLOOR", (1.0, None)), ("floor/2.5", (2.5, None)),
                                          ("25", (None, 25.0)), ("7.5", (None, 7.5))])
def test_payments_rate_is_a_number_or_a_share_of_the_floor(spec, parsed):
    assert pricing.parse_payments_rate(spec) == parsed
    args = run.parse_args(["--payments-rate", spec])
    assert (args.payments_rate_divisor, args.payments_rate) == parsed


@pytest.mark.parametrize("spec", ["floor/0", "floor/-2", "floor2", "floor/x", "fast", "0", "-3", ""])
def test_a_bad_payments_rate_is_refused_by_name(spec, capsys):
    with pytest.raises(SystemExit):
        run.parse_args(["--payments-rate", spec])
    assert "--payments-rate" in capsys.readouterr().err


def test_the_default_payments_rate_is_half_the_floor_of_the_same_run(monkeypatch):
    monkeypatch.delenv("BENCH_PAYMENTS_RATE", raising=False)
    args = run.parse_args([])
    assert (args.payments_rate_divisor, args.payments_rate) == (2.0, None)
    offered = pricing.resolve_payments_rate(args, _priced_results())
    assert offered["rate"] == round(2000 / 22 / 2, 1) == 45.5
    assert offered["rule"] == "floor/2 = 90.9/2"
    # Without the rq rows (--only ceilings,payments) there is no floor to halve: the fixed fallback.
    unpriced = _priced_results()
    unpriced["rq"] = []
    assert pricing.resolve_payments_rate(args, unpriced) == {
        "rate": pricing.FALLBACK_PAYMENTS_RATE, "rule": "floor/2 not priced: fixed"}
    fixed = run.parse_args(["--payments-rate", "12"])
    assert pricing.resolve_payments_rate(fixed, unpriced) == {"rate": 12.0, "rule": "fixed"}


def _payments(offered, completed, p99):
    return {"offered_per_s": offered, "completed_per_s": completed, "web_p99_ms": p99, "web_p50_ms": 10.0,
            "posted": 100, "completed": 100, "offered_rule": "floor/2 = 90.9/2"}


@pytest.mark.parametrize("offered, completed, p99, met, misses", [
    (45.5, 45.5, 99.0, True, []),
    (45.5, 30.0, 99.0, False, ["completed below 45.5/s"]),
    (45.5, 45.5, 100.0, False, ["web p99 not under 100 ms"]),
    (20.0, 20.0, 40.0, False, ["offered below 45.5/s", "completed below 45.5/s"]),
])
def test_the_payments_goal_is_half_the_floor_at_web_p99_under_100_ms(offered, completed, p99, met, misses):
    results = _priced_results(**_payments(offered, completed, p99))
    results["payments_e2e"]["floor"] = pricing.payments_floor(results)
    pay = results["payments_e2e"]
    assert pay["ratio_to_floor"] == round(completed / (2000 / 22), 2)
    assert pay["goal"]["met"] is met and pay["goal"]["completed_per_s_needed"] == 45.5
    row = next(r for r in report.rows(results) if r[0] == "payments e2e (completed/s)")
    assert row[1] == "floor" and row[5] == f"{pay['ratio_to_floor']:.2f}"
    assert row[8].startswith(f"goal {'MET' if met else 'NOT MET'} ({pay['ratio_to_floor']:.2f} of the floor")
    for why in misses:
        assert why in row[8]
    assert "offered" in row[8] and "(floor/2 = 90.9/2)" in row[8]


def test_bill_run_floor_growth_and_rows():
    from bench import bill_run

    latency = {"rps": 100.0, "p50_ms": 1.0, "p99_ms": 2.0}
    jobs = {"jobs_per_s": 100.0, "jobs": 10, "finished": 10}
    results = {
        "meta": {"cpu_count": 2},
        "http": [{"name": "jwt", "ceiling": None, "server_cpu_ms_per_request": 1.0, **latency},
                 {"name": "jwt_pg", "ceiling": None, "server_cpu_ms_per_request": 1.5, **latency}],
        "rq": [{"kind": "trivial", "worker_class": "SimpleWorker", "cpu_ms_per_job": 2.0, **jobs},
               {"kind": "delivery", "worker_class": "SimpleWorker", "cpu_ms_per_job": 6.0, **jobs}],
        "bill_run": [
            {"n": 1000, "settled": 1000, "wall_seconds": 100.0, "settled_per_s": 10.0, "rq_workers": 4,
             "cpu_ms_per_renewal": 50.0, "cpu_ms_per_renewal_by_process": {"rq-worker": 30.0, "postgresql": 20.0}},
            {"n": 10000, "settled": 10000, "wall_seconds": 800.0, "settled_per_s": 12.5, "rq_workers": 4,
             "cpu_ms_per_renewal": 65.0, "cpu_ms_per_renewal_by_process": {"rq-worker": 40.0, "postgresql": 25.0}}],
    }
    floor = pricing.bill_run_floor(results)
    # 0.5 (jwt_pg - jwt: one PostgreSQL read) + 3 x 6.0 (deliveries) + 2.0 (submit job) = 20.5 ms
    assert floor["cpu_ms_per_renewal"] == 20.5
    assert floor["max_settled_per_s_on_this_box"] == round(2000 / 20.5, 1)
    assert results["bill_run"][0]["ratio_to_floor"] == round(10.0 / (2000 / 20.5), 2)
    growth = bill_run.growth(results["bill_run"])
    assert growth["cpu_per_renewal_ratio"] == 1.3 and growth["linear"] is False
    assert growth["settled_per_s_ratio"] == 1.25
    results["bill_run_summary"] = {"floor": floor, "growth": growth}
    text = report.table_text(results)
    assert "bill run 10,000 (settled/s)" in text and "NOT linear" in text and "bill run floor" in text
    assert pricing.bill_run_floor({**results, "rq": []}) is None  # a skipped phase: no floor
