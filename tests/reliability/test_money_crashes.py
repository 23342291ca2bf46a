"""Money exactly once while processes are SIGKILLed (issue #13, item 3).

N one-off payments, then a partial refund of each, every one with its own Idempotency-Key;
payment web workers and RQ workers are SIGKILLed throughout and clients retry with their key
(after a connection error, a 5xx or a 409 "in progress"). Afterwards the gateway's own ledger
must hold exactly one approved charge per logical payment and one refund per logical refund.
A gateway answer lost with a killed RQ worker is settled by payments-resubmit from the gateway's
record (docs/guarantees.md); "settled before their webhook" counts those.
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
from tests.reliability.stack import CARD, FAST_RECOVERY, Stack, wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(300)]
N = 30
CLIENTS = 4
# A payment web worker is SIGKILLed after every KILL_AFTER accepted requests (at most one a second),
# the RQ worker every RQ_EVERY-th time: paced by progress, not by the clock, so a loaded box (a
# gunicorn worker can take seconds to boot) gets as many kills as an idle one, and not more.
KILL_AFTER = 3
RQ_EVERY = 3
REFUND_CENTS = 1000
PACE = 0.3  # seconds a client rests after each answer, so the kills land among the requests


@pytest.fixture(scope="module")
def stack():
    s = Stack(extra_env={**FAST_RECOVERY, "IDEMPOTENCY_STALE_AFTER_SECONDS": "3",
                         "PAYMENTS_RESUBMIT_INTERVAL_SECONDS": "5"}).start()
    yield s
    s.stop()


def _web_workers(stack) -> list[int]:
    master = stack.procs["payment"].pid
    with open(f"/proc/{master}/task/{master}/children") as fh:
        return [int(pid) for pid in fh.read().split()]


def _killer(stack, stop: threading.Event, kills: dict, accepted: list):
    """SIGKILL a payment web worker after every KILL_AFTER accepted requests, the RQ worker every RQ_EVERY-th."""
    rng = random.Random(13)
    while not stop.wait(1.0):
        if len(accepted) < KILL_AFTER * (kills["web"] + 1):
            continue
        workers = _web_workers(stack)
        if workers:
            os.kill(rng.choice(workers), signal.SIGKILL)
            kills["web"] += 1
        if kills["web"] % RQ_EVERY == 1:
            stack.kill("worker0", signal.SIGKILL)
            stack.start_worker("worker0")
            kills["rq"] += 1


def _until_accepted(post, deadline: float, accepted: list) -> dict | None:
    """Retry with the same key until a 202 (new or replayed); None if the deadline passes."""
    while time.monotonic() < deadline:
        try:
            r = post()
        except requests.RequestException:
            time.sleep(0.3)
            continue
        if r.status_code == 202:
            accepted.append(r.json())
            time.sleep(PACE)
            return r.json()
        assert r.status_code in (409, 502, 503, 504), (r.status_code, r.text)
        time.sleep(0.5)
    return None


def _under_fire(stack, jobs, budget: float):
    stop, kills, accepted = threading.Event(), {"web": 0, "rq": 0}, []
    killer = threading.Thread(target=_killer, args=(stack, stop, kills, accepted), daemon=True)
    killer.start()
    deadline = time.monotonic() + budget
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(lambda post: _until_accepted(post, deadline, accepted), jobs))
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
        # A lost gateway answer waits for the sweeper: stuck after 5 s, swept every 5 s.
        wait_until(done, 45, f"{n} transactions {status}", interval=0.5)
    except TimeoutError:
        print("not settled:", query(stack, "SELECT status, count(*) FROM transactions GROUP BY 1"),
              query(stack, "SELECT status, count(*) FROM refunds GROUP BY 1"),
              query(stack, "SELECT operation, approved, answered_at IS NULL, count(*) FROM mock_gateway_requests "
                           "GROUP BY 1, 2, 3"), _sweeper_state(stack))
        raise


def _sweeper_state(stack) -> dict:
    """When payments-resubmit last finished, and what RQ and rq-scheduler hold of it."""
    import redis
    conn = redis.Redis.from_url(stack.redis.url)
    last = conn.get("periodic:last_run:payments-resubmit")
    return {"last_run_ago": round(time.time() - float(last), 1) if last else None,
            "job_status": conn.hget("rq:job:periodic-payments-resubmit", "status"),
            "scheduled_in": (lambda score: score and round(score - time.time(), 1))(
                conn.zscore("rq:scheduler:scheduled_jobs", "periodic-payments-resubmit")),
            "queues": {q: conn.llen(f"rq:queue:{q}") for q in ("payments", "webhooks", "default")},
            "workers": conn.scard("rq:workers")}


def _unsent_answers(stack, operation: str) -> int:
    """Requests settled while the gateway's webhook is still unsent: the sweeper settled them."""
    [(count,)] = query(stack, "SELECT count(*) FROM mock_gateway_requests WHERE operation = %s "
                              "AND answered_at IS NULL", (operation,))
    return count


def _report(stack, what, tried, accepted, counts, kills) -> dict:
    report = {"tried": tried, "lost": tried - len(counts), "doubled": sum(c - 1 for c in counts.values() if c > 1),
              "unanswered": sum(a is None for a in accepted), **kills}
    print(f"\n{what}: tried {report['tried']} / lost {report['lost']} / doubled {report['doubled']} "
          f"(unanswered {report['unanswered']}, SIGKILLs: {kills['web']} web workers, {kills['rq']} RQ workers; "
          f"settled before their webhook: {_unsent_answers(stack, what[:-1])})")
    return report


def test_payments_and_refunds_happen_once_while_workers_are_sigkilled(stack):
    headers = stack.register("money-crash@example.com")
    paid, kills = _under_fire(stack, [_pay(stack, headers, i) for i in range(N)], budget=60)
    _settled(stack, "succeeded", sum(p is not None for p in paid))
    payments = _report(stack, "payments", N, paid, _charges(stack), kills)
    refunded, kills = _under_fire(stack, [_refund(stack, headers, p["id"], i) for i, p in enumerate(paid) if p],
                                  budget=60)
    _settled(stack, "partially_refunded", sum(r is not None for r in refunded))
    refunds = _report(stack, "refunds", N, refunded, _refunds(stack), kills)
    for phase in (payments, refunds):
        assert phase["web"] > 0 and phase["rq"] > 0, "nothing was killed: the test measured nothing"
    assert (payments["lost"], payments["doubled"], payments["unanswered"]) == (0, 0, 0)
    assert (refunds["lost"], refunds["doubled"], refunds["unanswered"]) == (0, 0, 0)
    assert sum(_charges(stack).values()) == N and sum(_refunds(stack).values()) == N
