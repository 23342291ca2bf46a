"""The RQ worker classes `flask rq worker` runs: every job done, in its service's app context."""
import pytest
from click.testing import CliRunner
from rq import Queue
from rq.registry import FinishedJobRegistry

from bench.rq_jobs import noop
from jobs.worker import BillingWorker

pytestmark = pytest.mark.reliability


def test_worker_runs_every_job(redis_conn):
    queue = Queue("default", connection=redis_conn)
    jobs = queue.enqueue_many([Queue.prepare_data(noop) for _ in range(50)])
    BillingWorker([queue], connection=redis_conn).work(burst=True, with_scheduler=False)
    assert all(job.get_status(refresh=True) == "finished" for job in jobs)
    assert FinishedJobRegistry(queue=queue).count == 50


def test_the_worker_key_keeps_rqs_own_ttl(redis_conn):
    """RQ's heartbeat is RQ's: the worker key lives worker_ttl + 60 s after each one."""
    worker = BillingWorker([Queue("default", connection=redis_conn)], connection=redis_conn)
    worker.register_birth()
    redis_conn.expire(worker.key, 50)
    worker.heartbeat()
    assert redis_conn.ttl(worker.key) > worker.worker_ttl + 55
    worker.register_death()


def test_flask_rq_worker_burst_drains_the_queues(app, redis_conn):
    queue = Queue("default", connection=redis_conn)
    job = queue.enqueue(noop)
    result = CliRunner().invoke(app.cli, ["rq", "worker", "--burst"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert job.get_status(refresh=True) == "finished"
