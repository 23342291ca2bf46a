"""The periodic job registry registers exactly what it lists, and its runs are recorded."""
from rq import SimpleWorker
from rq_scheduler import Scheduler

from jobs import schedule
from jobs import scheduler as scheduler_module
from core.queues import QUEUE_NAMES, get_queue


def test_register_schedules_every_listed_job_once(app, redis_conn):
    sched = Scheduler(connection=redis_conn)
    first = scheduler_module.register(sched)
    second = scheduler_module.register(sched)  # a restarted scheduler replaces, never duplicates
    assert first == second == [schedule.JOB_ID_PREFIX + j.job_id for j in schedule.PERIODIC_JOBS]
    jobs = {j.id: j for j in sched.get_jobs()}
    assert set(jobs) == set(first)
    for entry in schedule.PERIODIC_JOBS:
        job = jobs[schedule.JOB_ID_PREFIX + entry.job_id]
        assert job.meta["interval"] == entry.interval_seconds
        assert job.origin == entry.queue


def test_every_listed_function_resolves_and_queue_exists():
    for entry in schedule.PERIODIC_JOBS:
        assert callable(entry.func)
        assert entry.queue in QUEUE_NAMES


def test_a_scheduled_run_is_recorded_for_health(app, client, redis_conn):
    sched = Scheduler(connection=redis_conn)
    scheduler_module.register(sched)
    sched.enqueue_jobs()  # due now: moves them to their queues
    SimpleWorker([get_queue(n) for n in QUEUE_NAMES], connection=redis_conn).work(burst=True)
    status = client.get("/v1/health/queues").json["periodic_jobs"]["heartbeat"]
    assert status["last_run"] is not None and status["overdue"] is False
    assert status["lag_seconds"] < 5


def test_intervals_named_by_a_setting_follow_that_setting(app, settings):
    from jobs.schedule import PERIODIC_JOBS
    sync = next(j for j in PERIODIC_JOBS if j.job_id == "usage-sync")
    assert sync.interval == "usage_sync_interval_seconds"
    assert sync.interval_seconds == settings.usage_sync_interval_seconds
    app.config["SETTINGS"] = settings.with_overrides(usage_sync_interval_seconds=3)
    try:
        assert sync.interval_seconds == 3
    finally:
        app.config["SETTINGS"] = settings


def test_scheduler_registers_again_after_redis_lost_its_jobs(app, redis_conn):
    from jobs.scheduler import BillingScheduler
    sched = BillingScheduler(connection=redis_conn)
    scheduler_module.register(sched)
    redis_conn.flushdb()  # Redis restarted empty
    sched.enqueue_jobs()
    ids = {j.id for j in sched.get_jobs()}
    assert ids == {schedule.JOB_ID_PREFIX + j.job_id for j in schedule.PERIODIC_JOBS}


def test_scheduler_keeps_retrying_while_redis_is_unreachable(monkeypatch):
    import redis

    from jobs import scheduler as scheduler_module
    monkeypatch.setattr(scheduler_module, "RETRY_SECONDS", 0)
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    sched = scheduler_module.BillingScheduler(connection=dead)
    attempts = []
    real_run = sched.run

    def counting_run(*args, **kwargs):
        attempts.append(1)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(sched, "run", counting_run)
    import pytest
    with pytest.raises(redis.exceptions.ConnectionError):
        scheduler_module.run_forever(sched, max_restarts=2)
    assert len(attempts) == 3


def test_periodic_jobs_survive_a_worker_outage_longer_than_their_result_ttl(app, redis_conn):
    """rq-scheduler re-queues the same job id, and drops it from the schedule for good if its hash is gone."""
    sched = Scheduler(connection=redis_conn)
    ids = scheduler_module.register(sched)
    sched.enqueue_jobs()
    SimpleWorker([get_queue(n) for n in QUEUE_NAMES], connection=redis_conn).work(burst=True)
    # No worker for minutes (SIGKILLed, restarting): Redis drops every key whose TTL runs out meanwhile.
    for job_id in ids:
        if redis_conn.ttl(f"rq:job:{job_id}") > 0:
            redis_conn.delete(f"rq:job:{job_id}")
    redis_conn.zadd(sched.scheduled_jobs_key, {job_id: 0 for job_id in ids})  # and all of them are due
    sched.enqueue_jobs()
    assert sorted(job.id for job in sched.get_jobs()) == sorted(ids)


def test_a_periodic_job_deleted_from_redis_is_back_after_one_poll(app, redis_conn):
    from rq.job import Job

    from jobs.scheduler import BillingScheduler
    sched = BillingScheduler(connection=redis_conn)
    scheduler_module.register(sched)
    sched.enqueue_jobs()  # the first runs are queued; rq-scheduler keeps the next ones
    victim = schedule.JOB_ID_PREFIX + "outbox-sweep"
    Job.fetch(victim, connection=redis_conn).delete()  # what rq-dashboard's "delete" does
    sched.enqueue_jobs()  # rq-scheduler drops an entry whose job is gone; this poll must restore it
    sched.enqueue_jobs()
    ids = {j.id for j in sched.get_jobs()}
    assert ids == {schedule.JOB_ID_PREFIX + j.job_id for j in schedule.PERIODIC_JOBS}
    assert Job.fetch(victim, connection=redis_conn).meta["interval"] == 15
