"""Money exactly once while processes are SIGKILLed (issue #13, item 3).

N one-off payments, then a partial refund of each, every one with its own Idempotency-Key;
payment web workers and RQ workers are SIGKILLed throughout and clients retry with their key
(after a connection error, a 5xx or a 409 "in progress"). Afterwards the gateway's own ledger
must hold exactly one approved charge per logical payment and one refund per logical refund.
    .venv/bin/pytest -m slow tests/reliability/test_money_crashes.py -s
"""
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.reliability.ledger import query
from tests.reliability.stack import Stack, wait_until
from tests.reliability.test_crashes import CARD, FAST_RECOVERY

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(300)]
N = 30
CLIENTS = 4
REFUND_CENTS = 1000
PACE = 0.3  # seconds a client rests after each answer, so the kills land among the requests


@pytest.fixture(scope="module")
def stack():
    s = Stack(extra_env={**FAST_RECOVERY, "IDEMPOTENCY_STALE_AFTER_SECONDS": "3"}).start()
    yield s
    s.stop()


def _web_workers(stack) -> list[int]:
    master = stack.procs["payment"].pid
    with open(f"/proc/{master}/task/{master}/children") as fh:
        return [int(pid) for pid in fh.read().split()]


def _killer(stack, stop: threading.Event, kills: dict):
    """SIGKILL a payment web worker about every second, and the RQ worker every fourth time."""
    rng = random.Random(13)
    while not stop.wait(1.0):
        workers = _web_workers(stack)
        if workers:
            os.kill(rng.choice(workers), signal.SIGKILL)
            kills["web"] += 1
        if kills["web"] % 4 == 1:
            stack.kill("worker0", signal.SIGKILL)
            stack.start_worker("worker0")
            kills["rq"] += 1


def _until_accepted(post, deadline: float) -> dict | None:
    """Retry with the same key until a 202 (new or replayed); None if the deadline passes."""
    while time.monotonic() < deadline:
        try:
            r = post()
        except requests.RequestException:
            time.sleep(0.3)
            continue
        if r.status_code == 202:
            time.sleep(PACE)
            return r.json()
        assert r.status_code in (409, 502, 503, 504), (r.status_code, r.text)
        time.sleep(0.5)
    return None


def _under_fire(stack, jobs, budget: float):
    stop, kills = threading.Event(), {"web": 0, "rq": 0}
    killer = threading.Thread(target=_killer, args=(stack, stop, kills), daemon=True)
    killer.start()
    deadline = time.monotonic() + budget
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(lambda post: _until_accepted(post, deadline), jobs))
    finally:
        stop.set()
        killer.join(10)
    return answers, kills


def _pay(stack, headers, i):
    body = {"amount_cents": 2900, "currency": "USD", "description": f"money-{i}", "card": CARD}
    return lambda: requests.post(stack.pay_url + "/v1/payments/process", json=body, timeout=10,
                                 headers={**headers, "Idempotency-Key": f"pay-{i}"})


def _refund(stack, headers, txn_id, i):
    return lambda: requests.post(stack.pay_url + f"/v1/payments/refund/{txn_id}", json={"amount_cents": REFUND_CENTS},
                                 timeout=10, headers={**headers, "Idempotency-Key": f"refund-{i}"})


def _charges(stack) -> dict:
    return dict(query(stack, """SELECT t.description, count(*) FROM mock_gateway_requests g
        JOIN transactions t ON t.id::text = g.reference
        WHERE g.operation = 'charge' AND g.approved AND t.description LIKE 'money-%%' GROUP BY 1"""))


def _refunds(stack) -> dict:
    return dict(query(stack, """SELECT t.description, count(*) FROM mock_gateway_requests g
        JOIN refunds r ON r.id::text = g.reference JOIN transactions t ON t.id = r.transaction_id
        WHERE g.operation = 'refund' AND g.approved AND t.description LIKE 'money-%%' GROUP BY 1"""))


def _settled(stack, status: str, n: int):
    def done():
        [(count,)] = query(stack, "SELECT count(*) FROM transactions WHERE description LIKE 'money-%%' "
                                  "AND status = %s", (status,))
        return count >= n
    try:
        wait_until(done, 100, f"{n} transactions {status}", interval=0.5)  # a lost job waits for the sweeper
    except TimeoutError:
        print("not settled:", query(stack, "SELECT status, count(*) FROM transactions GROUP BY 1"),
              query(stack, "SELECT status, count(*) FROM refunds GROUP BY 1"),
              query(stack, "SELECT operation, approved, answered_at IS NULL, count(*) FROM mock_gateway_requests "
                           "GROUP BY 1, 2, 3"))
        raise


def _report(what, tried, accepted, counts, kills) -> dict:
    report = {"tried": tried, "lost": tried - len(counts), "doubled": sum(c - 1 for c in counts.values() if c > 1),
              "unanswered": sum(a is None for a in accepted), **kills}
    print(f"\n{what}: tried {report['tried']} / lost {report['lost']} / doubled {report['doubled']} "
          f"(unanswered {report['unanswered']}, SIGKILLs: {kills['web']} web workers, {kills['rq']} RQ workers)")
    return report


def test_payments_and_refunds_happen_once_while_workers_are_sigkilled(stack):
    headers = stack.register("money-crash@example.com")
    paid, kills = _under_fire(stack, [_pay(stack, headers, i) for i in range(N)], budget=60)
    _settled(stack, "succeeded", sum(p is not None for p in paid))
    payments = _report("payments", N, paid, _charges(stack), kills)
    refunded, kills = _under_fire(stack, [_refund(stack, headers, p["id"], i) for i, p in enumerate(paid) if p],
                                  budget=60)
    _settled(stack, "partially_refunded", sum(r is not None for r in refunded))
    refunds = _report("refunds", N, refunded, _refunds(stack), kills)
    assert payments["web"] > 0 and payments["rq"] > 0, "nothing was killed: the test measured nothing"
    assert (payments["lost"], payments["doubled"], payments["unanswered"]) == (0, 0, 0)
    assert (refunds["lost"], refunds["doubled"], refunds["unanswered"]) == (0, 0, 0)
    assert sum(_charges(stack).values()) == N and sum(_refunds(stack).values()) == N
