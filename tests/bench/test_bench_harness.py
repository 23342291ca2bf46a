"""The `make bench` harness: wrk parsing, the baseline apps, request building, the report.

No timings are asserted: these check that the harness measures what it says it does.
"""
import json

import pytest

from bench import baseline_apps, e2e, report, scenarios, wrk
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
