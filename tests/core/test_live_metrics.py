"""/metrics under real gunicorn with several workers (multiprocess mode), across a worker restart."""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families


pytestmark = [pytest.mark.slow, pytest.mark.reliability]


# Not /v1/health: the stack's readiness polls give up after 2 s, and a poll queued in a booting worker's
# backlog is answered (and counted) later, in the middle of the count.
COUNTED = "/v1/plans"


def served_count(base_url: str) -> float:
    body = requests.get(f"{base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if (s.name == "billing_http_requests_total" and s.labels["endpoint"] == COUNTED
                    and s.labels["status"] == "200"):
                return s.value
    return 0.0


def workers_of(master_pid: int) -> set[int]:
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as f:
        return {int(pid) for pid in f.read().split()}


def hit(base_url: str, n: int) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: requests.get(f"{base_url}{COUNTED}", timeout=10).status_code, range(n)))
    assert codes == [200] * n


def test_counts_add_up_across_workers_and_survive_a_worker_restart(live_stack, app):
    url = live_stack.subscription_url
    master = live_stack.processes["subscription"].pid
    before = served_count(url)
    hit(url, 30)
    assert served_count(url) - before == 30  # whichever worker answers the scrape sees all of them

    old = workers_of(master)
    assert len(old) == 2
    os.kill(sorted(old)[0], signal.SIGTERM)  # gunicorn replaces it; child_exit marks it dead
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = workers_of(master)
        if len(now) == 2 and now != old:
            break
        time.sleep(0.2)
    else:
        pytest.fail("gunicorn did not replace the worker")
    hit(url, 10)
    assert served_count(url) - before == 40  # the dead worker's requests are still counted


def test_queue_depth_from_the_subscription_service_only(live_stack, app, redis_conn):
    from core.queues import enqueue_after_commit

    with app.app_context():
        enqueue_after_commit("webhooks", "tests.core.test_logging.report_request_id", "x")
    body = requests.get(f"{live_stack.subscription_url}/metrics", timeout=10).text
    assert 'billing_queue_depth{queue="webhooks"} 1.0' in body
    # One target only, so a Prometheus sum() over both services does not double the depth.
    assert "billing_queue_depth" not in requests.get(f"{live_stack.payment_url}/metrics", timeout=10).text
    assert "process_resident_memory_bytes" in body and "python_info" in body  # gunicorn multiprocess mode
