"""A SIGKILLed worker takes its forked children (RQ's scheduler) with it, and their scheduler locks.

A real `flask rq worker` process on the test database and Redis db: its scheduler child must not
outlive it (orphaned, it kept refreshing the scheduler locks for as long as it ran)."""
import os
import signal
import subprocess
import sys
import time

import pytest
import redis as redis_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLASK = os.path.join(os.path.dirname(sys.executable), "flask")
LOCKS = "rq:scheduler-lock:*"


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"not within {timeout}s: {what}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's")
def test_sigkilled_worker_leaves_no_scheduler_child_and_no_scheduler_lock(settings, _schema):
    conn = redis_lib.Redis.from_url(settings.redis_url)
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "LOG_FORMAT": "json"}
    worker = subprocess.Popen([FLASK, "--app", "wsgi:subscription_app", "rq", "worker", "--name", "pdeathsig"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        [child] = _wait(lambda: _children(worker.pid) if worker.poll() is None else pytest.fail("worker exited"),
                        40, "the worker forks its scheduler")
        _wait(lambda: conn.keys(LOCKS), 10, "the scheduler child takes its locks")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        _wait(lambda: not _alive(child), 10, "the scheduler child dies with the worker")
        assert conn.keys(LOCKS) == []  # released on its way out: another worker takes over at once
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)  # the worker's own session: an orphan from a failed run too
        except ProcessLookupError:
            pass
        worker.wait(timeout=10)
        conn.flushdb()
        conn.close()
