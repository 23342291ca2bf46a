"""The `make bench` harness: wrk parsing, the baseline apps, request building, the report.

No timings are asserted: these check that the harness measures what it says it does.
"""
import json
import os
import time

import pytest

from bench import baseline_apps, e2e, pricing, report, run, scenarios, wrk
from bench.fixtures import guard_database, route_exists
from core.security import verify_signature

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8601/ping
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.01ms    1.20ms  20.00ms   90.00%
    Req/Sec     8.00k   500.00     9.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    2.20ms
     90%    3.00ms
     99%    1.20s
  40000 requests in 5.00s, 6.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 10
Requests/sec:   8000.50
Transfer/sec:      1.20MB
"""


def test_wrk_report_is_parsed_with_units():
    run = wrk.parse(WRK_OUTPUT)
    assert run.rps == 8000.5
    assert run.p50_ms == pytest.approx(0.85)
    assert run.p99_ms == pytest.approx(1200.0)
    assert (run.requests, run.non_2xx, run.socket_errors) == (40000, 10, 5)


def test_wrk_summary_takes_medians_of_repeats():
    result = wrk.WrkResult([wrk.WrkRun(r, p, p * 3, 100, 0, 0, "wrk") for r, p in ((10, 1), (30, 5), (20, 2))])
    summary = result.summary()
    assert (summary["rps"], summary["p50_ms"], summary["p99_ms"]) == (20, 2, 6)
    assert len(summary["runs"]) == 3


def test_raw_requests_are_valid_http_and_nul_separated(tmp_path):
    raw = wrk.raw_request("POST", "127.0.0.1:1", "/x", {"A": "b"}, b'{"k":1}')
    assert raw == b'POST /x HTTP/1.1\r\nHost: 127.0.0.1:1\r\nA: b\r\nContent-Length: 7\r\n\r\n{"k":1}'
    path = wrk.write_requests(str(tmp_path / "r.req"), [raw, raw])
    assert open(path, "rb").read().count(b"\0") == 2


def test_signed_webhooks_verify_and_carry_fresh_event_ids(settings):
    requests = scenarios.signed_webhooks(settings, 3)
    ids = {json.loads(body)["event_id"] for _, body in requests}
    assert len(ids) == 3
    for headers, body in requests:
        verify_signature(settings.webhook_signing_secrets, body, headers["X-Webhook-Signature"],
                         headers["X-Webhook-Timestamp"], settings.webhook_tolerance_seconds)


def test_baseline_apps_answer_like_the_product_configures_them(app, make_user, settings):
    user, headers = make_user()
    for name, method, path in (("bare", "GET", "/ping"), ("jwt", "GET", "/jwt"),
                               ("jwt_evalsha", "POST", "/evalsha"), ("jwt_pg", "GET", "/pg")):
        client = baseline_apps.BUILDERS[name](settings).test_client()
        r = client.open(path, method=method, headers=headers, json={} if method == "POST" else None)
        assert r.status_code == 200, (name, r.json)
        if name != "bare":
            assert client.open(path, method=method).status_code == 401  # the JWT check is real
    pg = baseline_apps.BUILDERS["jwt_pg"](settings).test_client().get("/pg", headers=headers)
    assert pg.json == {"id": user.id, "email": user.email}
    evalsha = baseline_apps.BUILDERS["jwt_evalsha"](settings).test_client()
    assert evalsha.post("/evalsha", headers=headers).json["used"] == 2


def test_missing_routes_are_detected(app):
    assert route_exists(app, "GET", "/v1/auth/me")
    assert not route_exists(app, "DELETE", "/v1/auth/me")
    assert not route_exists(app, "GET", "/v1/no-such-thing")


def test_bench_refuses_a_database_not_named_bench():
    with pytest.raises(SystemExit):
        guard_database("postgresql://postgres@127.0.0.1:5432/billing")
    guard_database("postgresql://postgres@127.0.0.1:5432/billing_bench")


def test_percentile_is_nearest_rank():
    assert e2e.percentile(list(range(1, 101)), 50) == 50
    assert e2e.percentile(list(range(1, 101)), 99) == 99
    assert e2e.percentile([], 50) is None


def test_report_table_and_chart(tmp_path):
    results = {
        "meta": {"date": "2026-11-26", "git_commit": "abc", "cpu_count": 2,
                 "gunicorn": {"workers": 4, "worker_class": "gthread", "threads": 4},
                 "load_average_at_start": [1.0, 1.0, 1.0]},
        "http": [{"name": "jwt_pg", "ceiling": None, "rps": 2000.0, "p50_ms": 5.0, "p99_ms": 9.0, "errors": 0},
                 {"name": "me", "ceiling": "jwt_pg", "rps": 1500.0, "p50_ms": 7.0, "p99_ms": 12.0, "errors": 0,
                  "ratio": 0.75},
                 {"name": "usage use", "ceiling": "jwt_evalsha", "skipped": "skipped: endpoint missing"}],
        "payments_e2e": {"skipped": "skipped: endpoint missing"},
        "rq": [{"kind": "trivial", "worker_class": "SimpleWorker", "jobs": 10, "finished": 10,
                "jobs_per_s": 300.0, "job_p50_ms": 1.0, "job_p99_ms": 2.0, "ratio": 1.2, "ceiling": "target 250"}],
    }
    text = report.table_text(results)
    assert "me" in text and "0.75" in text and "skipped: endpoint missing" in text and "300.0" in text
    assert report.table_markdown(results).count("\n") == 1 + 5
    report.write_chart(results, str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paired_runs_alternate_with_the_ceiling_and_take_the_median_of_per_run_ratios(monkeypatch, tmp_path):
    from types import SimpleNamespace

    # wrk is the outside tool here: each call answers the next figure of its url's script.
    rps = {"http://c/ceiling": iter([1000.0, 500.0, 1000.0]), "http://p/product": iter([800.0, 450.0, 300.0])}
    calls = []

    def fake_run(url, request_file, *, duration, connections, threads=1, timeout="5s", unique_ids=False):
        calls.append(url)
        rate = next(rps[url])
        return wrk.WrkRun(rps=rate, p50_ms=1.0, p99_ms=2.0, requests=int(rate), non_2xx=0, socket_errors=0,
                          command="wrk")

    monkeypatch.setattr(wrk, "run", fake_run)
    cfg = SimpleNamespace(duration=1, repeats=3, warmup=0, backend_pids=lambda: [], work_dir=str(tmp_path))
    entry = scenarios._run_paired({"name": "me", "ceiling": "jwt_pg"}, "http://p/product", "p.req",
                                  {"url": "http://c/ceiling", "request_file": "c.req", "server_pgid": 0},
                                  cfg, 16, "5s", [], 1)
    assert calls == ["http://c/ceiling", "http://p/product"] * 3
    assert entry["ratio_runs"] == [0.8, 0.9, 0.3]
    assert entry["ratio"] == 0.8  # the median of the per-run ratios, not 450 / 1000
    assert entry["rps"] == 450.0 and entry["paired_ceiling"]["rps"] == 1000.0


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


def test_payments_load_client_counts_completions_against_a_stand_in_server():
    """The e2e client against a stand-in that activates each subscription 0.1 s after its POST.

    The stand-in's GET waits (?wait=) for the change, except every other one, which answers at once with
    Retry-After as a process with no free wait slot does: the client honours it and asks again."""
    import threading
    import time

    from flask import Flask, request
    from werkzeug.serving import make_server

    fake = Flask("fake")

    @fake.post("/v1/subscriptions")
    def create():
        assert request.headers["Idempotency-Key"] and request.get_json()["card"]["number"] == e2e.CARD["number"]
        return {"id": f"s-{time.time() + 0.1}", "status": "incomplete"}, 201

    refused = {"n": 0}

    @fake.get("/v1/subscriptions/<sid>")
    def show(sid):
        assert request.args["wait"] == "1"
        refused["n"] += 1
        if refused["n"] % 2:
            return {"status": "incomplete"}, 200, {"Retry-After": "0.05"}
        time.sleep(max(0.0, float(sid[2:]) - time.time()))
        return {"subscription": {"status": "active" if time.time() >= float(sid[2:]) else "incomplete"}}

    server = make_server("127.0.0.1", 0, fake, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = e2e.run_payments("127.0.0.1", server.server_port, [{"token": "t"}] * 10, "plan", rate=50,
                                  connections=4, wait=1, settle=0.0)
    finally:
        server.shutdown()
    assert result["completed"] == 10 and result["outcomes"] == {"active": 10}
    assert result["http_statuses"]["POST 201"] == 10 and result["http_statuses"]["GET 200"] >= 10
    assert 100 <= result["e2e_p50_ms"] < 1000
    assert result["retry_after_answers"] >= 5 and result["gets_per_payment"] >= 1.5
    assert result["web_requests"] == 10 + result["retry_after_answers"]  # the waits are not web latency


def test_results_go_under_the_ignored_out_folder_and_rq_compare_is_opt_in():
    from bench import run

    args = run.parse_args([])
    assert args.output.endswith("bench/out/results.json") and args.chart.endswith("bench/out/results.png")
    assert "rq-compare" not in args.only
    assert run.parse_args(["--only", "rq-compare"]).only == ["rq-compare"]
    with pytest.raises(SystemExit):
        run.parse_args(["--only", "no-such-group"])


def test_rq_compare_counts_round_trips_of_both_workers_and_unwraps_redis(redis_conn):
    from redis import Redis

    from bench import rq_bench

    send = Redis.execute_command
    rows = rq_bench.compare_workers(redis_conn, jobs=5, rounds=1)
    assert Redis.execute_command is send
    assert [r["worker_class"] for r in rows] == ["SimpleWorker", "BillingWorker"]
    for row in rows:
        assert row["jobs_per_s"] > 0 and row["redis_round_trips_per_job"] >= 1


def test_profile_refuses_an_unknown_route():
    from bench import profile

    with pytest.raises(SystemExit):
        profile.main(["--routes", "use,nope"])


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


def test_bill_run_sizes_are_a_comma_list_and_quick_runs_200():
    from bench import run

    assert run.parse_args([]).bill_run_n == [1000, 10000]
    assert run.parse_args(["--bill-run-n", "100000"]).bill_run_n == [100000]
    assert run.parse_args(["--quick"]).bill_run_n == [200]
    assert "bill-run" in run.parse_args([]).only
    with pytest.raises(SystemExit):
        run.parse_args(["--bill-run-n", "0"])


def test_list_growth_is_each_lists_latency_at_the_most_rows_over_the_fewest():
    from bench import lists

    rows = [{"list": "GET /v1/invoices", "rows": n, "cursor_first_ms": first, "cursor_last_ms": 4.0,
             "offset_first_ms": 6.0, "offset_last_ms": offset_last}
            for n, first, offset_last in ((10000, 6.0, 12.0), (1, 5.0, 6.0), (100, 5.5, 7.0))]
    [growth] = lists.growth(rows)
    assert (growth["from_rows"], growth["to_rows"]) == (1, 10000)
    assert growth["cursor_first_ms_growth"] == 1.2 and growth["cursor_last_ms_growth"] == 1.0
    assert growth["offset_last_ms_growth"] == 2.0
    text = report.table_text({"http": [], "lists": {"rows": rows, "growth": [growth]}})
    assert "GET /v1/invoices growth 1 -> 10,000 rows" in text and "GET /v1/invoices (10,000 rows)" in text
    assert "bench.lists failed" in report.table_text({"http": [], "lists": {"skipped": "bench.lists failed"}})


@pytest.fixture
def live_subscription_service(app):
    """The test app on a loopback port, threaded, for the load tools (wrk, the open-loop client)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = False  # so server_close() waits for the requests still running (wrk's last ones)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


@pytest.fixture
def event_senders(app, seeded):
    from bench import fixtures, usage_events
    from core import clock
    from subscription_app.seed import ENTERPRISE_MONTHLY_ID

    users = fixtures.create_users(app, "events", 3, subscribed_plan_id=ENTERPRISE_MONTHLY_ID)
    return users, usage_events.create_api_key(app), clock.utcnow().isoformat()


def _events_counted(app) -> tuple[int, int]:
    from sqlalchemy import func, select

    from core.extensions import db
    from subscription_app.usage.models import UsageEvent

    with app.app_context():
        return db.session.execute(select(func.count(), func.count(func.distinct(UsageEvent.event_id)))
                                  .select_from(UsageEvent)).one()


def test_events_ceiling_reads_the_batch_and_counts_it_with_one_evalsha(settings, event_senders):
    from bench import usage_events

    users, _, at = event_senders
    client = baseline_apps.BUILDERS["events_evalsha"](settings).test_client()
    first = client.post("/events", json=usage_events.batch(users, 0, at)).json
    second = client.post("/events", json=usage_events.batch(users, 0, at)).json
    assert first["accepted"] == usage_events.BATCH and second["used"] - first["used"] == usage_events.BATCH


@pytest.mark.skipif(__import__("shutil").which("wrk") is None, reason="wrk is not installed")
def test_wrk_unique_ids_script_never_sends_an_event_id_twice(app, event_senders, live_subscription_service,
                                                             tmp_path):
    from bench import usage_events

    users, key, at = event_senders
    port = live_subscription_service
    raws = [wrk.raw_request("POST", f"127.0.0.1:{port}", usage_events.PATH, h, body)
            for h, body in usage_events.templates(users, key, at, count=2)]
    path = wrk.write_requests(str(tmp_path / "events.req"), raws)
    run = wrk.run(f"http://127.0.0.1:{port}{usage_events.PATH}", path, duration=1, connections=2, threads=2,
                  unique_ids=True)
    assert run.requests > 0 and run.non_2xx == 0 and run.socket_errors == 0
    total, distinct = _events_counted(app)
    # Every batch answered was counted whole, with ids no other batch used (a replayed id is a duplicate).
    assert total == distinct and total >= run.requests * usage_events.BATCH


def test_usage_events_open_loop_posts_batches_on_schedule_and_times_them(app, event_senders,
                                                                         live_subscription_service):
    from bench import usage_events

    users, key, at = event_senders
    result = usage_events.latency_at(live_subscription_service, users, key, at, rate=20, seconds=0.5)
    assert result["batches"] == 10 and result["statuses"] == {"200": 10}
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert _events_counted(app) == (10 * usage_events.BATCH, 10 * usage_events.BATCH)


def test_period_close_invoices_every_seeded_customer_once_and_checks_the_cents(app, seeded):
    from types import SimpleNamespace

    from bench import period_close

    result = period_close.phase(SimpleNamespace(sub_app=app, period_close_n=[2, 4]))
    assert [(r["customers"], r["renewed"], r["usage_lines"], r["usage_cents"]) for r in result["runs"]] == [
        (2, 2, 2, 2 * 1000), (4, 4, 4, 4 * 1000)]  # 1,500 used, 1,000 included, 2 cents each
    assert not any(r.get("error") for r in result["runs"])
    assert result["growth"]["from"] == 2 and result["growth"]["per_customer_time_ratio"] > 0
    rows = report.period_close_rows(result)
    assert len(rows) == 2 and rows[1][1] == "linear" and "4,000 cents" in rows[1][-1]


def test_period_close_reports_a_customer_left_uninvoiced(app, seeded, monkeypatch):
    from bench import period_close
    from subscription_app.billing import renewals

    with app.app_context():
        period_close.price_basic()
    monkeypatch.setattr(renewals, "run_renewals", lambda: renewals.StepResult(done=0))
    assert "not every customer" in period_close.close(app, "none", 2)["error"]


def test_new_groups_run_by_default_with_their_sizes():
    from bench import run

    args = run.parse_args([])
    assert {"usage-events", "period-close"} <= set(args.only) and args.period_close_n == [1000, 10000]
    assert run.parse_args(["--quick"]).period_close_n == [100, 1000]
    assert run.parse_args(["--period-close-n", "10,20"]).period_close_n == [10, 20]


def test_profile_events_route_sends_fresh_batches_with_an_api_key(app, seeded, settings):
    from bench import profile, usage_events

    target = profile.Target("events", app, settings, token="unused")
    target.call()
    target.call()  # asserts a 200 itself; a replayed batch would count nothing new below
    assert _events_counted(app) == (2 * usage_events.BATCH, 2 * usage_events.BATCH)


def test_usage_events_cpu_per_batch_splits_what_the_box_spent_while_it_measured(app):
    from types import SimpleNamespace

    from bench import usage_events

    cfg = SimpleNamespace(backend_pids=lambda: [], sub_app=app)

    def burn():
        started = time.process_time()
        while time.process_time() - started < 0.3:
            pass
        return "answer", 10

    result, per_batch = usage_events.cpu_per_batch(cfg, os.getpgid(0), burn)
    assert result == "answer" and set(per_batch) == {"gunicorn", "postgres", "redis", "load_client", "whole_box"}
    assert 28 <= per_batch["load_client"] <= 40  # 0.3 s over 10 batches, in this process
    assert per_batch["gunicorn"] >= per_batch["load_client"] - 2  # this process group holds this process
    assert per_batch["whole_box"] >= per_batch["load_client"] - 2 and per_batch["postgres"] == 0
