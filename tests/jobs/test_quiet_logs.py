"""Idle, the worker is quiet at INFO: a periodic job's start and success go to DEBUG, its failure does not."""
import logging

from rq_scheduler import Scheduler

from core.queues import DEFAULT, QUEUE_NAMES, enqueue_after_commit, get_queue
from jobs import schedule
from jobs import scheduler as scheduler_module
from jobs.worker import BillingWorker


def plain_job():
    return "ok"


def failing_periodic():
    raise RuntimeError("periodic boom")


def _work(redis_conn, level="INFO"):
    BillingWorker([get_queue(n) for n in QUEUE_NAMES], connection=redis_conn).work(
        burst=True, with_scheduler=False, logging_level=level)


def _job_lines(lines, job_id):
    return [line for line in lines() if line.get("job_id") == job_id]


def test_periodic_successes_are_debug_plain_jobs_stay_info(app, redis_conn, json_logs):
    sched = Scheduler(connection=redis_conn)
    scheduler_module.register(sched)
    sched.enqueue_jobs()
    job = enqueue_after_commit(DEFAULT, plain_job)
    _work(redis_conn)
    heartbeat = schedule.JOB_ID_PREFIX + "heartbeat"
    assert redis_conn.get(schedule.LAST_RUN_KEY.format(job_id="heartbeat")) is not None  # it did run
    assert _job_lines(json_logs, heartbeat) == []
    plain = [line["message"] for line in _job_lines(json_logs, job.id)]
    assert any("Job OK" in m for m in plain), plain


def test_periodic_success_lines_still_there_at_debug(app, redis_conn, json_logs):
    sched = Scheduler(connection=redis_conn)
    scheduler_module.register(sched)
    sched.enqueue_jobs()
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        _work(redis_conn, "DEBUG")  # what LOG_LEVEL=DEBUG gives the worker
    finally:
        logging.getLogger().setLevel(logging.INFO)
    lines = _job_lines(json_logs, schedule.JOB_ID_PREFIX + "heartbeat")
    assert any("Job OK" in line["message"] and line["level"] == "DEBUG" for line in lines), lines


def test_periodic_failure_stays_visible(app, redis_conn, json_logs, monkeypatch):
    entry = schedule.PeriodicJob("boom", failing_periodic, 60)
    monkeypatch.setattr(schedule, "PERIODIC_JOBS", (entry,))
    sched = Scheduler(connection=redis_conn)
    scheduler_module.register(sched)
    sched.enqueue_jobs()
    _work(redis_conn)
    lines = _job_lines(json_logs, schedule.JOB_ID_PREFIX + "boom")
    assert any(line["level"] == "ERROR" and "periodic boom" in str(line) for line in lines), lines


def test_registry_cleaning_is_debug(app, redis_conn, json_logs):
    worker = BillingWorker([get_queue(n) for n in QUEUE_NAMES], connection=redis_conn)
    worker.clean_registries()
    assert not [line for line in json_logs("rq.worker") if "cleaning" in line["message"]]
    worker.log.setLevel(logging.DEBUG)
    try:
        worker.clean_registries()
    finally:
        worker.log.setLevel(logging.INFO)
    assert {line["level"] for line in json_logs("rq.worker") if "cleaning" in line["message"]} == {"DEBUG"}
