"""An integrator webhook worker SIGKILLed mid-delivery (issue #18): nothing is lost, each event is
processed once by webhook-id, and RQ's abandoned job is retried rather than left as a failed job.

Real processes (tests/reliability/stack.py): both services, the scheduler and a BillingWorker
(`flask rq worker`). The receiver, in this process, verifies with `standardwebhooks`, hangs on
the first POST it gets, and dedupes by webhook-id as integrators are told to.
"""
import signal
import time

import pytest
import redis
import requests
from rq import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from core.queues import WEBHOOKS
from tests.reliability.ledger import query
from tests.reliability.stack import Stack, wait_until
from tests.support.webhook_receiver import Receiver

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(300)]
CUSTOMERS = 4


@pytest.fixture(scope="module")
def stack():
    # A long read timeout: the worker must still be inside the POST when it is killed.
    s = Stack(extra_env={"OUTGOING_WEBHOOK_READ_TIMEOUT_SECONDS": "60"}).start()
    yield s
    s.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    r.delay = 120  # the first POST hangs until the worker is gone
    yield r
    r.stop()


def processed(receiver) -> dict[str, int]:
    """What an integrator's deduping receiver did: arrivals per webhook-id, of the verified ones."""
    counts: dict[str, int] = {}
    for r in receiver.verified("customer.created"):
        counts[r["id"]] = counts.get(r["id"], 0) + 1
    return counts


def test_worker_killed_mid_delivery_loses_nothing(stack, receiver):
    admin = stack.login()
    r = requests.post(stack.sub_url + "/v1/admin/webhook-endpoints",
                      json={"url": receiver.url, "event_types": ["customer.created"]}, headers=admin, timeout=5)
    assert r.status_code == 201, r.text
    receiver.secrets.append(r.json()["secret"])
    for i in range(CUSTOMERS):
        stack.register(f"killed{i}@example.com")

    wait_until(lambda: receiver.received, 30, "the first delivery to reach the receiver")
    stack.kill("worker0", signal.SIGKILL)  # inside the POST, holding the delivery row's lock
    [hung] = receiver.received
    receiver.delay = 0
    stack.start_worker("worker0")

    def all_delivered():
        rows = query(stack, "SELECT id, status FROM webhook_deliveries")
        return rows if len(rows) == CUSTOMERS and {s for _, s in rows} == {"succeeded"} else None
    rows = wait_until(all_delivered, 90, "every delivery succeeded after the restart", interval=0.5)
    counts = processed(receiver)
    assert set(counts) == {i for i, _ in rows}  # every event arrived, verified
    assert counts[hung["id"]] == 2 and all(n == 1 for i, n in counts.items() if i != hung["id"])
    logged = query(stack, "SELECT status_code, error FROM webhook_attempts WHERE delivery_id = %s ORDER BY id",
                   (hung["id"],))
    assert [code for code, _ in logged] == [None, 200]  # the killed attempt was written down before its call
    assert logged[0][1].startswith("interrupted") and logged[1][1] is None
    [(attempts,)] = query(stack, "SELECT attempts FROM webhook_deliveries WHERE id = %s", (hung["id"],))
    assert attempts == 2  # and the retry counted it

    # Later, RQ's maintenance finds the killed job's execution expired (its heartbeat TTL, about
    # 90 s here): with a retry left it is requeued and skips the delivered row instead of landing
    # in the failed registry as an AbandonedJobError that no one needs to look at.
    conn = redis.Redis.from_url(stack.redis.url)
    queue = Queue(WEBHOOKS, connection=conn)
    started = StartedJobRegistry(queue=queue)
    assert started.get_expired_job_ids(time.time() + 600), "the killed job is still registered as started"
    finished_before = FinishedJobRegistry(queue=queue).count
    started.cleanup(time.time() + 600)
    wait_until(lambda: FinishedJobRegistry(queue=queue).count > finished_before, 20, "the abandoned job re-run")
    assert FailedJobRegistry(queue=queue).count == 0
    assert started.count == 0
    assert processed(receiver) == counts  # the re-run sent nothing more
