"""Bounded waits for a status change: `GET ...?wait=N` answers when the object's status changes, at most N s.

    status_wait.watch(Subscription.status, "subscription")   # once, beside the model
    return status_wait.answer("subscription", sub_id, seconds, read=..., pending=lambda s: s.status == "incomplete")

Any code that changes a watched status column publishes on the object's Redis channel after its
transaction commits (core/on_commit.py: never for a rollback). A waiting request registers with its
process's one subscription (core/status_listener.py) before it reads, so a change between its read and
its wait is not missed, then gives its database connection back and blocks until that subscription
hears of the change; without a message it reads once more at the deadline.
A web process lets at most STATUS_WAIT_SLOTS requests wait at once, on threads gunicorn adds for
them (gunicorn.conf.py): beyond that, or with Redis down, the answer comes at once with
`Retry-After: 1`. At most GUNICORN_THREADS requests of an app run at once: a waiting request gives
its turn back while it waits, so the waits' threads never add to the work in flight.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import marshmallow as ma
import redis
from flask import current_app, g
from sqlalchemy import event
from sqlalchemy.orm.attributes import NO_VALUE

from core import status_listener
from core.extensions import db, get_redis
from core.on_commit import on_commit
from core.schemas import Integer, StrictSchema
from core.settings import load_server_settings

log = logging.getLogger(__name__)
CHANNEL_PREFIX = "status-changed"
RETRY_AFTER_SECONDS = 1
_TURNS = "status_wait_turns"
_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


class WaitArgsSchema(StrictSchema):
    wait = Integer(load_default=0, metadata={
        "description": "Seconds to wait for the status to change before answering (0 to STATUS_WAIT_MAX_SECONDS, "
                       "default 0: at once)"})

    @ma.validates("wait")
    def _within_cap(self, value, **kwargs):
        cap = current_app.config["SETTINGS"].status_wait_max_seconds
        if not 0 <= value <= cap:
            raise ma.ValidationError(f"Must be between 0 and {cap} seconds.")


def channel(kind: str, object_id) -> str:
    return f"{CHANNEL_PREFIX}:{kind}:{object_id}"


def _publish(name: str) -> None:
    try:
        get_redis().publish(name, status_listener.announcement())  # when: a later wait is not woken by it
    except redis.RedisError as exc:
        # A waiter then answers at its deadline, with the state as it is: nothing is lost.
        log.warning("could not announce %s (%s)", name, exc.__class__.__name__)


def announce_after_commit(kind: str, object_id) -> None:
    """Wake the requests waiting on this object once the current transaction commits."""
    name = channel(kind, object_id)
    on_commit(lambda: _publish(name))


def watch(attribute, kind: str) -> None:
    """Announce every committed change of this status column (a new row announces nothing)."""
    @event.listens_for(attribute, "set", active_history=True)  # the old value even when expired
    def _changed(target, value, oldvalue, initiator):
        if oldvalue is NO_VALUE or oldvalue is None or oldvalue == value or target.id is None:
            return
        announce_after_commit(kind, target.id)


def _semaphore() -> threading.BoundedSemaphore | None:
    size = current_app.config["SETTINGS"].status_wait_slots
    if size <= 0:
        return None
    with _slots_lock:
        return _slots.setdefault(size, threading.BoundedSemaphore(size))


def answer(kind: str, object_id, seconds: float, *, read: Callable, pending: Callable[[object], bool]):
    """read() now; while pending(it) and for at most `seconds`, wait for its change and read it again."""
    if seconds <= 0:
        return read()
    semaphore = _semaphore()
    if semaphore is None or not semaphore.acquire(blocking=False):
        g.status_wait_retry_after = RETRY_AFTER_SECONDS
        return read()
    try:
        return _wait(kind, object_id, seconds, read, pending)
    finally:
        semaphore.release()


def _wait(kind, object_id, seconds, read, pending):
    deadline = time.monotonic() + seconds
    name, listener = channel(kind, object_id), listener_for_app()
    woken = listener.register(name)  # before the read: an announcement after it wakes this wait
    if woken is None:
        log.warning("status wait without Redis: answering at once")
        g.status_wait_retry_after = RETRY_AFTER_SECONDS
        return read()
    try:
        current = read()
        if not pending(current):
            return current
        db.session.close()  # the wait holds no database connection
        _give_turn_back()
        try:
            woken.wait(max(0.0, deadline - time.monotonic()))
        finally:
            _take_turn()
        return read()
    finally:
        listener.unregister(name, woken)


def listener_for_app() -> status_listener.Listener:
    """The process's one subscription for this app's Redis, shared by all its waits."""
    return status_listener.for_client(get_redis(), f"{CHANNEL_PREFIX}:*")


def add_retry_after(response):
    """after_request hook: tell a client whose wait was refused when to ask again."""
    retry = g.pop("status_wait_retry_after", None)
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


def _take_turn() -> None:
    turns = current_app.extensions.get(_TURNS)
    if turns is not None and not g.get("status_wait_turn"):
        turns.acquire()
        g.status_wait_turn = True


def _give_turn_back(exc=None) -> None:
    if g.pop("status_wait_turn", False):
        current_app.extensions[_TURNS].release()


def init_app(app) -> None:
    # Without it the extra threads would run requests too: more at once than GUNICORN_THREADS, which on
    # a busy process only makes each of them wait longer for the GIL.
    app.extensions[_TURNS] = threading.BoundedSemaphore(load_server_settings().gunicorn_threads)
    app.before_request(_take_turn)
    app.teardown_request(_give_turn_back)
    app.after_request(add_retry_after)
