"""One Redis pub/sub connection per process for every `?wait` (core/status_wait.py).

A daemon thread holds one PSUBSCRIBE on `status-changed:*` and wakes the threads waiting on a channel
when a message lands there. A wait registers (a dict entry, no Redis command) before its first read, and
the pattern was subscribed before any registration, so an announcement made after that read reaches it.
A PubSub per wait cost a TCP connection per wait: redis-py's PubSub.close() disconnects its connection.
If the connection drops, the thread subscribes again on a new one; the announcements of the gap are lost,
and their waits read at their deadline, as they would with no announcement.

An announcement carries the wall time of its publication. The thread may hear it late (a busy process),
after a wait that registered later has read the change already; such a wait is not woken by it, so a
stale announcement never ends a wait early. A message without a time (an older publisher) wakes every
waiter of its channel; across hosts, a publisher's clock behind the waiter's can only make a wait run
to its deadline, never answer early.
"""
from __future__ import annotations

import logging
import os
import threading
import time

import redis

log = logging.getLogger(__name__)
READY_SECONDS = 1.0  # a process's first wait waits this long at most for the subscription's confirmation
RETRY_SECONDS = 0.5  # between two attempts while Redis is down
POLL_SECONDS = 1.0  # how often the thread looks up from an idle connection (and sees a stop)
AT = "at:"  # an announcement's payload: "at:<publication wall time>"
_listeners: dict[tuple[int, int], "Listener"] = {}
_listeners_lock = threading.Lock()


class Listener:
    def __init__(self, client: redis.Redis, pattern: str):
        self.client, self.pattern = client, pattern
        self._waiters: dict[str, dict[threading.Event, float]] = {}  # channel -> {event: registered at}
        self._lock = threading.Lock()
        self._ready, self._stopped = threading.Event(), threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="status-wait-listener", daemon=True)
        self._thread.start()

    def register(self, name: str) -> threading.Event | None:
        """An event set when `name` is announced; None while the subscription is down (Redis is)."""
        if self._failing or not self._ready.wait(READY_SECONDS):
            return None
        woken = threading.Event()
        with self._lock:
            self._waiters.setdefault(name, {})[woken] = time.time()
        return woken

    def unregister(self, name: str, woken: threading.Event) -> None:
        with self._lock:
            waiting = self._waiters.get(name)
            if waiting is not None:
                waiting.pop(woken, None)
                if not waiting:
                    del self._waiters[name]

    def waiting(self, name: str) -> int:
        with self._lock:
            return len(self._waiters.get(name, ()))

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(POLL_SECONDS + 1)

    def _run(self) -> None:
        pubsub = None
        while not self._stopped.is_set():
            try:
                if pubsub is None:
                    pubsub = self.client.pubsub()
                    pubsub.psubscribe(self.pattern)
                self._handle(pubsub.get_message(timeout=POLL_SECONDS))
            except redis.RedisError as exc:
                if not self._failing:
                    log.warning("status waits lost their Redis subscription (%s): retrying", exc.__class__.__name__)
                self._ready.clear()
                self._failing = True
                pubsub = _closed(pubsub)
                self._stopped.wait(RETRY_SECONDS)
        _closed(pubsub)

    def _handle(self, message: dict | None) -> None:
        if message is None:
            return
        if message["type"] == "psubscribe":
            self._failing = False
            self._ready.set()
        elif message["type"] == "pmessage":
            name = message["channel"]
            name = name.decode() if isinstance(name, bytes) else name
            published = _published_at(message["data"])
            with self._lock:
                waiting = [woken for woken, registered in self._waiters.get(name, {}).items()
                           if published is None or registered <= published]
            for woken in waiting:
                woken.set()


def announcement() -> str:
    """What a publisher sends: its wall time (status_wait publishes this)."""
    return f"{AT}{time.time()!r}"


def _published_at(data) -> float | None:
    """The announcement's wall time, or None for one that carries none."""
    text = data.decode() if isinstance(data, bytes) else str(data)
    if not text.startswith(AT):
        return None
    try:
        return float(text[len(AT):])
    except ValueError:
        return None


def _closed(pubsub) -> None:
    if pubsub is not None:
        try:
            pubsub.close()
        except redis.RedisError:
            pass  # its connection is gone already


def for_client(client: redis.Redis, pattern: str) -> Listener:
    """This process's listener on `client` (one per process: a forked worker starts its own)."""
    key = (os.getpid(), id(client))
    with _listeners_lock:
        listener = _listeners.get(key)
        if listener is None:
            listener = _listeners[key] = Listener(client, pattern)
        return listener


def stop(client: redis.Redis) -> None:
    """Stop this process's listener on `client`, if any (for a client about to be closed)."""
    with _listeners_lock:
        listener = _listeners.pop((os.getpid(), id(client)), None)
    if listener is not None:
        listener.stop()
