"""The bench waits for a phase's queues to empty, so the next phase does not run (and pay for) its jobs."""
from __future__ import annotations

from datetime import timedelta

from bench import report, rq_bench
from bench.rq_jobs import noop
from core.queues import DEFAULT, PAYMENTS, WEBHOOKS, get_queue


def test_backlog_counts_waiting_and_scheduled_jobs_per_queue(app, redis_conn):
    get_queue(PAYMENTS, redis_conn).enqueue(noop)
    get_queue(PAYMENTS, redis_conn).enqueue(noop)
    get_queue(WEBHOOKS, redis_conn).enqueue_in(timedelta(minutes=5), noop)  # a retry's backoff
    assert rq_bench.backlog(redis_conn) == {PAYMENTS: 2, WEBHOOKS: 1, DEFAULT: 0}


def test_waiting_for_idle_is_bounded_and_says_what_is_left(app, redis_conn):
    assert rq_bench.wait_until_idle(redis_conn, 5) == {"drain_seconds": 0.0, "left": {}}
    get_queue(DEFAULT, redis_conn).enqueue(noop)  # no worker runs here: it stays
    waited = rq_bench.wait_until_idle(redis_conn, 1)
    assert waited["left"] == {DEFAULT: 1}
    assert 1 <= waited["drain_seconds"] < 3


def test_the_report_shows_the_drain_and_an_earlier_phases_jobs():
    assert report.drain_note({"drain_seconds": 12.5, "left": {}}) == "queues drained 12.5 s after the load"
    assert report.drain_note({"drain_seconds": 240.2, "left": {"webhooks": 7, "payments": 3}}) == (
        "queues drained 240.2 s after the load, 3 payments, 7 webhooks jobs left")
    assert report.drain_note(None) == ""
    run = {"n": 1000, "settled": 1000, "wall_seconds": 20.0, "settled_per_s": 50.0, "rq_workers": 4,
           "cpu_ms_per_renewal": 30.0, "cpu_ms_per_renewal_by_process": {"web": 30.0},
           "jobs_left_over_at_start": {"payments": 40}}
    row = report.bill_run_rows({"bill_run": [run]})[0]
    assert row[-1].endswith("; an earlier phase's jobs ran inside it: 40 payments")
