"""`?wait` reuses Redis connections: a process's waits do not open one connection each.

On a private redis-server (so that INFO's total_connections_received counts this test's connections
only), many sequential and concurrent waits, each blocked until its announcement wakes it."""
import os
import threading
import time
import uuid

import flask
import pytest
import redis

from core import status_listener, status_wait
from tests.support.redis_servers import Server, needs_redis_server

pytestmark = [pytest.mark.subscription, needs_redis_server]
PORT = 7109 + 10 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
SEQUENTIAL, CONCURRENT = 30, 16


@pytest.fixture(scope="module")
def own_redis_server(tmp_path_factory):
    server = Server(PORT, tmp_path_factory.mktemp("wait-redis")).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_url(own_redis_server):
    if own_redis_server.proc is None:
        own_redis_server.start()
    return own_redis_server.url


@pytest.fixture
def app_on_own_redis(app, own_redis_url, monkeypatch):
    client = redis.Redis.from_url(own_redis_url)
    monkeypatch.setitem(app.extensions, "redis", client)
    yield app
    status_listener.stop(client)
    client.close()


@pytest.fixture
def announcer(own_redis_url):
    """The test's own client: one connection shared by every announcing thread, opened before counting."""
    client = redis.Redis.from_url(own_redis_url, single_connection_client=True)
    client.ping()
    yield client
    client.close()


def _connections(client) -> int:
    return int(client.info("stats")["total_connections_received"])


def _wait_woken(app, client, object_id) -> tuple[bool, float]:
    """One `?wait=5` on `object_id`, woken by an announcement once it has read and is waiting; (answer, s)."""
    state = {"changed": False}
    first_read = threading.Event()

    def read():
        first_read.set()
        return state["changed"]

    def announce():
        first_read.wait(5)
        state["changed"] = True
        while not done.is_set():  # again and again: the first may land before the wait blocks
            client.publish(status_wait.channel("subscription", object_id), "1")
            done.wait(0.05)

    done = threading.Event()
    announcer = threading.Thread(target=announce)
    announcer.start()
    started = time.monotonic()
    try:
        with app.test_request_context():
            answer = status_wait.answer("subscription", object_id, 5, read=read, pending=lambda v: not v)
    finally:
        done.set()
        announcer.join(5)
    return answer, time.monotonic() - started


def test_many_waits_reuse_a_few_connections(app_on_own_redis, announcer):
    app, own_redis = app_on_own_redis, announcer
    with app.test_request_context():  # a first wait may open the process's connections
        status_wait.answer("subscription", uuid.uuid4(), 0.1, read=lambda: None, pending=lambda v: True)
    before = _connections(own_redis)
    for _ in range(SEQUENTIAL):
        answer, seconds = _wait_woken(app, own_redis, uuid.uuid4())
        assert answer is True and seconds < 3, seconds
    results = []

    def one():
        results.append(_wait_woken(app, own_redis, uuid.uuid4()))

    threads = [threading.Thread(target=one) for _ in range(CONCURRENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == CONCURRENT and all(answer is True and s < 4 for answer, s in results), results
    grew = _connections(own_redis) - before
    # The waits share the process's connections (the concurrent ones may add a few), never one a wait.
    assert grew <= 4, f"{grew} new connections for {SEQUENTIAL + CONCURRENT} waits"


def test_waits_survive_a_redis_restart(app_on_own_redis, own_redis_server):
    """Down: a wait answers at once with Retry-After; back: the listener subscribes again by itself."""
    app = app_on_own_redis
    with app.test_request_context():
        status_wait.answer("subscription", uuid.uuid4(), 0.1, read=lambda: None, pending=lambda v: True)
    own_redis_server.stop()
    time.sleep(status_listener.RETRY_SECONDS * 2)
    with app.test_request_context():
        started = time.monotonic()
        assert status_wait.answer("subscription", uuid.uuid4(), 5, read=lambda: 1, pending=lambda v: True) == 1
        assert time.monotonic() - started < 2 and flask.g.status_wait_retry_after == 1
    own_redis_server.start()
    with redis.Redis.from_url(own_redis_server.url, single_connection_client=True) as announcer:
        for _ in range(20):  # until the listener has subscribed again (it retries twice a second)
            answer, seconds = _wait_woken(app, announcer, uuid.uuid4())
            if answer is True:
                break
            time.sleep(0.2)
    assert answer is True and seconds < 3, seconds
