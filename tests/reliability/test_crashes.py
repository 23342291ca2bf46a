"""Processes die mid-payment: every acknowledged payment still reaches its final state exactly once.

Figures (tried / lost / doubled) are printed; run with -s to see them:
    pytest -m slow tests/reliability -s
"""
import signal
import time

import pytest
import requests

from tests.reliability.ledger import money_report, query, undelivered_events
from tests.reliability.stack import CARD, FAST_RECOVERY, Stack, wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(600)]
PRO = "550e8400-e29b-41d4-a716-446655440000"


@pytest.fixture(scope="module")
def stack():
    s = Stack(extra_env=FAST_RECOVERY).start()
    yield s
    s.stop()


def _subscribe_many(stack, prefix: str, n: int) -> list[str]:
    emails = [f"{prefix}{i}@example.com" for i in range(n)]
    for email in emails:
        h = stack.register(email)
        r = requests.post(stack.sub_url + "/v1/subscriptions", json={"plan_id": PRO, "card": CARD}, headers=h,
                          timeout=15)
        assert r.status_code == 201, r.text
    return emails


def _settle(stack, emails, timeout=150):
    def done():
        report = money_report(stack, emails)
        return report if report["active"] == len(emails) and undelivered_events(stack) == 0 else None
    try:
        return wait_until(done, timeout, "every payment final and every event delivered", interval=1)
    except TimeoutError:
        print("not settled:", money_report(stack, emails), "undelivered:", undelivered_events(stack))
        raise


def test_worker_sigkilled_repeatedly_mid_payment(stack):
    emails = _subscribe_many(stack, "killw", 30)
    for round_ in range(3):
        time.sleep(0.4)
        stack.kill("worker0", signal.SIGKILL)
        time.sleep(0.3)
        stack.start_worker("worker0")
    report = _settle(stack, emails)
    print("\nworker SIGKILL x3 during 30 payments:", report)
    assert report == {"tried": 30, "active": 30, "lost": 0, "doubled": 0, "paid_cents": 30 * 2900}


def test_scheduler_sigkilled_and_restarted_registers_once_and_keeps_running(stack):
    stack.kill("scheduler", signal.SIGKILL)
    stack.start_scheduler()
    import redis
    from rq_scheduler import Scheduler

    from jobs.schedule import JOB_ID_PREFIX, PERIODIC_JOBS
    conn = redis.Redis.from_url(stack.redis.url)

    def registered():
        ids = [j.id for j in Scheduler(connection=conn).get_jobs() if j.id.startswith(JOB_ID_PREFIX)]
        return ids if len(ids) == len(PERIODIC_JOBS) else None
    ids = wait_until(registered, 20, "periodic jobs registered")
    assert len(set(ids)) == len(PERIODIC_JOBS)
    before = float(conn.get("periodic:last_run:outbox-sweep") or 0)
    wait_until(lambda: float(conn.get("periodic:last_run:outbox-sweep") or 0) > before, 40,
               "a periodic job ran after the scheduler restart")
    emails = _subscribe_many(stack, "sched", 5)
    stack.kill("scheduler", signal.SIGKILL)
    stack.start_scheduler()
    assert _settle(stack, emails)["lost"] == 0


def test_webhook_receiver_down_then_back(stack):
    """The subscription service dies while payments are in flight; its webhooks retry until it is back."""
    emails = _subscribe_many(stack, "recv", 10)
    stack.kill("subscription", signal.SIGKILL)
    time.sleep(20)  # payment results pile up in the payment outbox, retried with backoff
    [(failed_attempts,)] = query(stack, "SELECT count(*) FROM pay_outbox_events WHERE attempts > 0 "
                                        "AND delivered_at IS NULL")
    assert failed_attempts > 0
    stack._spawn("subscription", [stack.gunicorn, "-c", "gunicorn.conf.py", "-b",
                                  f"127.0.0.1:{stack.sub_port}", "wsgi:subscription_app"])
    report = _settle(stack, emails)
    print("\nsubscription service down 20 s during 10 payments:", report)
    assert report["lost"] == 0 and report["doubled"] == 0
    [(applied,)] = query(stack, "SELECT count(*) FROM sub_inbox_events WHERE event_type = 'payment.succeeded'")
    [(sent,)] = query(stack, "SELECT count(*) FROM pay_outbox_events WHERE event_type = 'payment.succeeded'")
    assert applied == sent


def test_redis_lost_with_payments_in_flight_and_usage_counted(stack):
    """Redis dies and comes back EMPTY (no persistence): queued jobs are gone, the sweepers finish every
    payment from PostgreSQL, and usage counters continue from the ledger."""
    h = stack.register("usage-redis@example.com")
    r = requests.post(stack.sub_url + "/v1/subscriptions", json={"plan_id": PRO, "card": CARD}, headers=h, timeout=15)
    assert r.status_code == 201
    _settle(stack, ["usage-redis@example.com"])
    for _ in range(5):
        assert requests.post(stack.sub_url + "/v1/usage/features/api_calls/use", json={"delta": 1}, headers=h,
                             timeout=5).status_code == 200
    time.sleep(3)  # the usage sync runs every second here
    emails = _subscribe_many(stack, "redislost", 10)
    stack.redis.stop()
    time.sleep(1)
    stack.redis.start()  # empty: every queued job and counter is gone
    report = _settle(stack, emails, timeout=180)
    # Nobody restarted anything: the worker and the scheduler waited for Redis and carried on.
    assert all(proc.poll() is None for proc in stack.procs.values())
    print("\nRedis lost (restarted empty) during 10 payments:", report)
    assert report["lost"] == 0 and report["doubled"] == 0
    h = stack.login("usage-redis@example.com")  # earlier tokens still valid, but be explicit
    used = requests.post(stack.sub_url + "/v1/usage/features/api_calls/use", json={"delta": 1}, headers=h,
                         timeout=5).json()["used"]
    assert used == 6
