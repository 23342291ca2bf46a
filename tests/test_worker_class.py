"""The RQ worker classes `flask rq worker` runs: same jobs done, fewer Redis round trips, key kept alive."""
import pytest
from click.testing import CliRunner
from redis.client import Pipeline
from rq import Queue
from rq.registry import FinishedJobRegistry

from bench.rq_jobs import noop
from jobs.worker import BillingWorker

pytestmark = pytest.mark.reliability


def _count_round_trips(monkeypatch, conn):
    """Count requests sent to Redis: one per command, one per pipeline."""
    counter = {"n": 0}
    single, piped = type(conn).execute_command, Pipeline.execute

    def count_single(self, *args, **kwargs):
        if not isinstance(self, Pipeline):
            counter["n"] += 1
        return single(self, *args, **kwargs)

    def count_pipeline(self, *args, **kwargs):
        counter["n"] += 1
        return piped(self, *args, **kwargs)

    monkeypatch.setattr(type(conn), "execute_command", count_single)
    monkeypatch.setattr(Pipeline, "execute", count_pipeline)
    return counter


def test_worker_runs_every_job_with_fewer_round_trips(redis_conn, monkeypatch):
    queue = Queue("default", connection=redis_conn)
    jobs = queue.enqueue_many([Queue.prepare_data(noop) for _ in range(50)])
    counter = _count_round_trips(monkeypatch, redis_conn)
    BillingWorker([queue], connection=redis_conn).work(burst=True, with_scheduler=False)
    assert all(job.get_status(refresh=True) == "finished" for job in jobs)
    assert FinishedJobRegistry(queue=queue).count == 50
    # Stock RQ 3.0 SimpleWorker: 20 round trips per job (11 of them heartbeats and idle states).
    assert counter["n"] / 50 <= 13


def test_heartbeat_is_throttled_but_never_leaves_a_short_ttl(redis_conn):
    worker = BillingWorker([Queue("default", connection=redis_conn)], connection=redis_conn)
    worker.register_birth()
    idle_ttl = worker.worker_ttl + 60
    worker.heartbeat()
    assert redis_conn.ttl(worker.key) > idle_ttl - 5

    redis_conn.expire(worker.key, 50)
    worker.heartbeat()  # within HEARTBEAT_EVERY of the last one: skipped
    assert redis_conn.ttl(worker.key) <= 50

    worker.heartbeat(timeout=100)  # a job's TTL, always sent ...
    assert 90 <= redis_conn.ttl(worker.key) <= 100
    worker.heartbeat()  # ... so the next plain heartbeat restores the idle TTL at once
    assert redis_conn.ttl(worker.key) > idle_ttl - 5
    worker.register_death()


def test_unchanged_state_is_not_rewritten_but_a_change_is(redis_conn):
    worker = BillingWorker([Queue("default", connection=redis_conn)], connection=redis_conn)
    worker.register_birth()
    worker.set_state("idle")
    redis_conn.hset(worker.key, "state", "tampered")
    worker.set_state("idle")
    assert redis_conn.hget(worker.key, "state") == b"tampered"
    worker.set_state("busy")
    assert redis_conn.hget(worker.key, "state") == b"busy"
    worker.register_death()


def test_flask_rq_worker_burst_drains_the_queues(app, redis_conn):
    queue = Queue("default", connection=redis_conn)
    job = queue.enqueue(noop)
    result = CliRunner().invoke(app.cli, ["rq", "worker", "--burst"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert job.get_status(refresh=True) == "finished"
