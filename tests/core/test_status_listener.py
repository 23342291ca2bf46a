"""A process's status listener wakes a wait only for announcements published after the wait registered.

The listener thread can hear an announcement late (a busy process); by then a wait that registered
after its publication has already read the change it announces, and must not be ended early by it.
Real Redis pub/sub."""
import time
import uuid

import pytest

from core import status_listener, status_wait

pytestmark = pytest.mark.subscription


@pytest.fixture
def listener(redis_conn):
    pattern = f"test-status-{uuid.uuid4().hex}:*"
    lis = status_listener.Listener(redis_conn, pattern)
    yield lis, pattern.removesuffix("*")
    lis.stop()


def _heard(listener, channel: str, payload: str | None = None, *, timeout: float = 1.0) -> bool:
    """Register, then publish `payload` (by default an announcement made now, as status_wait makes it)."""
    woken = listener.register(channel)
    assert woken is not None, "the listener did not subscribe"
    try:
        listener.client.publish(channel, status_listener.announcement() if payload is None else payload)
        return woken.wait(timeout)
    finally:
        listener.unregister(channel, woken)


def test_an_announcement_published_after_the_wait_registered_wakes_it(listener):
    lis, prefix = listener
    assert _heard(lis, prefix + "a")


def test_an_announcement_from_before_the_wait_registered_does_not_end_it(listener):
    lis, prefix = listener
    stale = f"{status_listener.AT}{time.time() - 5!r}"  # as if heard five seconds after it was published
    assert not _heard(lis, prefix + "b", stale, timeout=0.5)
    assert _heard(lis, prefix + "b")  # the next one does


@pytest.mark.parametrize("payload", ["1", "at:soon", ""])
def test_an_announcement_without_a_time_wakes_every_waiter_as_before(listener, payload):
    lis, prefix = listener
    assert _heard(lis, prefix + "c", payload)


def test_status_wait_publishes_its_time(app, redis_conn):
    pubsub = redis_conn.pubsub()
    name = status_wait.channel("subscription", uuid.uuid4())
    pubsub.subscribe(name)
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"
    before = time.time()
    with app.app_context():
        status_wait._publish(name)
    data = pubsub.get_message(timeout=1)["data"].decode()
    pubsub.close()
    assert data.startswith(status_listener.AT) and before <= float(data[3:]) <= time.time()
