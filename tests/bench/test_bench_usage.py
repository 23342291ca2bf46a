"""The usage scenarios of the bench: events against their ceiling, the open-loop sender, the period close."""

import os
import time

import pytest

from bench import baseline_apps, report, wrk


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
