"""Transactional outbox: an event is a row written in the same transaction as the
state change it announces; delivery happens after commit, with retries.

    outbox.emit(PaymentOutbox, "payment.succeeded", "subscription_webhook", {...})
    db.session.commit()   # the row and the state change land together, or neither

After the commit that added an outbox row, its delivery job is enqueued
(core.queues.enqueue_after_commit: never for a rolled-back transaction or SAVEPOINT); the rows of a
batch target wait for one drain job of that target instead, which takes every due row in one call
(core/outbox_batch.py), so concurrent requests share a delivery. If Redis
is down at that moment, or a worker dies mid-delivery, the periodic sweeper
(jobs/outbox.py, for both services) finds the undelivered row and enqueues it again. Delivery locks the
row (FOR UPDATE SKIP LOCKED), POSTs the signed envelope, and marks it delivered; a
failure schedules a retry with capped exponential backoff, until MAX_ATTEMPTS.
Receivers dedupe by event id (core/inbox.py), so at-least-once delivery gives
exactly-once effects.
"""
from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

import redis
import requests
from flask import current_app
from sqlalchemy import Index, func, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from core import clock, metrics
from core.extensions import db, get_redis
from core.http import encode, signed_post
from core.logging import bind_request_id, current_request_id
from core.on_commit import on_commit
from core.queues import WEBHOOKS, enqueue_after_commit, enqueue_now, sweep_job_ids

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 20
BACKOFF_CAP_SECONDS = 3600
# A batch target's rows go in calls of at most this many (the receivers' limit).
BATCH_MAX_EVENTS = 100
# How long a queued drain job holds back others for its target; past it a lost job costs at most one more.
DRAIN_FLAG_SECONDS = 10
_BATCH_KEY = "outbox_batch"


class OutboxMixin:
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(db.String(64), nullable=False)
    target: Mapped[str] = mapped_column(db.String(64), nullable=False)
    payload: Mapped[dict] = mapped_column(JSONB, nullable=False)
    request_id: Mapped[str | None] = mapped_column(db.String(64))
    attempts: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    # Set from the clock the sweep compares it with (wall_now), not the database's: the two can disagree.
    next_attempt_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                      default=lambda: wall_now(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(db.Text)
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)

    @declared_attr.directive
    def __table_args__(cls):
        return (Index(f"ix_{cls.__tablename__}_undelivered", "next_attempt_at",
                      postgresql_where=text("delivered_at IS NULL AND dead_at IS NULL")),
                # The retention job's range scan (jobs/retention.py).
                Index(f"ix_{cls.__tablename__}_delivered", "delivered_at",
                      postgresql_where=text("delivered_at IS NOT NULL")))


@dataclass(frozen=True)
class OutboxConfig:
    service: str                          # "subscription" | "payment"
    model: type
    targets: dict[str, Callable[[], str]]  # target name -> URL (read from settings at call time)
    deliver_job: Callable                  # the RQ job function that delivers one row of this outbox
    # Targets that also take {"events": [...]} in one signed call (target name -> URL), and the job that
    # drains a target's due rows so (core/outbox_batch.py); a row a batch call did not settle retries
    # through deliver_job.
    batch_targets: dict[str, Callable[[], str]] = field(default_factory=dict)
    drain_job: Callable | None = None


_configs: dict[type, OutboxConfig] = {}


def init_app(app, config: OutboxConfig) -> None:
    """A service's create_app registers its own outbox: its model, targets and delivery job."""
    _configs[config.model] = config
    app.extensions["outbox"] = config


def config_for(model) -> OutboxConfig:
    return _configs[model]


def envelope(event_id, event_type: str, data: dict) -> dict:
    """The body a row delivers: what the receivers' inboxes claim by event_id."""
    return {"event_id": str(event_id), "type": event_type, "created_at": clock.utcnow().isoformat(), "data": data}


def emit(model, event_type: str, target: str, data: dict, event_id: uuid.UUID | None = None):
    """Add an event to the current transaction; it is delivered only if the transaction commits.

    `event_id` is for a caller that records the id elsewhere in the same transaction; a new one by default."""
    if target not in config_for(model).targets:
        raise ValueError(f"unknown outbox target {target!r}")
    event_id = event_id or uuid.uuid4()
    row = model(id=event_id, event_type=event_type, target=target, payload=envelope(event_id, event_type, data),
                request_id=current_request_id())
    db.session.add(row)
    _deliver_after_commit(model, row)
    return row


def _deliver_after_commit(model, row) -> None:
    """One delivery job per row, except for a batch target: its rows wait for one drain job (request_drain)."""
    cfg = config_for(model)
    session = db.session()
    if row.target not in cfg.batch_targets or cfg.drain_job is None or not session.in_transaction():
        enqueue_delivery(model, row.id, request_id=row.request_id)
        return
    outer, key = session.get_transaction(), (_BATCH_KEY, model, row.target)
    if session.info.get(key) is not outer:
        session.info[key] = outer
        on_commit(functools.partial(request_drain, model, row.target, row.request_id), outermost=True)


def _drain_flag(cfg: OutboxConfig, target: str) -> str:
    return f"outbox:drain:{cfg.service}:{target}"


def request_drain(model, target: str, request_id: str | None = None) -> None:
    """After a commit: enqueue a drain job for the target unless one is queued already (it takes these rows too).

    The flag expires: a drain job that is lost only delays its rows until the sweep sends them one by one."""
    cfg = config_for(model)
    flag = _drain_flag(cfg, target)
    try:
        if not get_redis().set(flag, "1", nx=True, ex=DRAIN_FLAG_SECONDS):
            return
    except redis.RedisError as exc:
        log.warning("could not ask for a drain of %s (%s); the sweep will send its rows", target,
                    exc.__class__.__name__)
        return
    meta = {"request_id": request_id} if request_id else {}
    if enqueue_now(WEBHOOKS, cfg.drain_job, target, meta=meta) is None:
        drain_started(model, target)  # not queued: the next commit may ask again


def drain_started(model, target: str) -> None:
    """The drain job clears its flag before it reads: a row committed after that asks for another job."""
    try:
        get_redis().delete(_drain_flag(config_for(model), target))
    except redis.RedisError:
        pass  # the flag expires on its own


def job_id(model, event_id, attempts: int) -> str:
    """The delivery job's id for a row and its attempt count: the sweep finds the row's job by it."""
    return f"outbox-{model.__tablename__}-{event_id}-{attempts}"


def enqueue_delivery(model, event_id, *, delay_seconds: float = 0, request_id: str | None = None,
                     attempts: int = 0, rq_job_id: str | None = None):
    """Deliver the row once the current transaction commits (at once outside one), under its request id."""
    meta = {"request_id": request_id} if request_id else {}
    return enqueue_after_commit(WEBHOOKS, config_for(model).deliver_job, str(event_id), delay=delay_seconds,
                                meta=meta, job_id=rq_job_id or job_id(model, event_id, attempts))


def backoff_seconds(attempts: int) -> float:
    base = current_app.config.get("OUTBOX_BACKOFF_BASE_SECONDS",
                                  current_app.config["SETTINGS"].outbox_backoff_base_seconds)
    return min(base * (2 ** max(attempts - 1, 0)), BACKOFF_CAP_SECONDS)


def wall_now() -> datetime:
    # Retries follow the wall clock the queues run on, not the movable billing clock.
    return datetime.now(timezone.utc)


def deliver(model, event_id: str) -> str:
    """Deliver one row; returns 'delivered', 'retry', 'dead' or 'skipped'."""
    row = db.session.execute(select(model).where(model.id == uuid.UUID(str(event_id)))
                             .with_for_update(skip_locked=True)).scalar_one_or_none()
    if row is None or row.delivered_at is not None or row.dead_at is not None:
        db.session.rollback()
        return "skipped"
    return deliver_locked(model, row)


def deliver_locked(model, row) -> str:
    """POST a row this transaction holds locked to its single-event endpoint, and commit the attempt."""
    cfg = config_for(model)
    error = None
    try:
        with bind_request_id(row.request_id):
            response = signed_post(cfg.targets[row.target](), encode(row.payload),
                                   extra_headers={"X-Event-ID": str(row.id)})
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}: {response.text[:200]}"
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    attempt = record_attempt(row, error)
    db.session.commit()
    after_attempt(model, attempt)
    return attempt["outcome"]


def record_attempt(row, error: str | None) -> dict:
    """One attempt on the row (in the caller's transaction); what after_attempt needs once it commits.

    Read before the commit expires the row, so nothing after it opens a transaction that would hold back
    the retry's enqueue."""
    row.attempts += 1
    row.last_error = error
    delay = None
    if error is None:
        row.delivered_at, outcome = wall_now(), "delivered"
    elif row.attempts >= MAX_ATTEMPTS:
        row.dead_at, outcome = wall_now(), "dead"
    else:
        delay = backoff_seconds(row.attempts)
        row.next_attempt_at, outcome = wall_now() + timedelta(seconds=delay), "retry"
    return {"outcome": outcome, "id": row.id, "event_type": row.event_type, "attempts": row.attempts,
            "error": error, "delay": delay, "request_id": row.request_id}


def after_attempt(model, attempt: dict) -> None:
    """After the commit: the metric, and the retry job of a row that failed."""
    metrics.webhook_delivery(attempt["event_type"], attempt["outcome"])
    if attempt["outcome"] == "retry":
        log.warning("outbox delivery of %s failed (attempt %s): %s", attempt["event_type"], attempt["attempts"],
                    attempt["error"])
        enqueue_delivery(model, attempt["id"], delay_seconds=attempt["delay"], request_id=attempt["request_id"],
                         attempts=attempt["attempts"])
    elif attempt["outcome"] == "dead":
        log.error("outbox event %s (%s) gave up after %s attempts", attempt["id"], attempt["event_type"],
                  attempt["attempts"])


def sweep(model, grace_seconds: float = 10, limit: int = 500) -> int:
    """Re-enqueue rows whose delivery is due but that no job seems to hold."""
    cutoff = wall_now() - timedelta(seconds=grace_seconds)
    rows = db.session.execute(
        select(model.id, model.request_id, model.attempts)
        .where(model.delivered_at.is_(None), model.dead_at.is_(None), model.next_attempt_at <= cutoff)
        .order_by(model.next_attempt_at).limit(limit)).all()
    db.session.rollback()
    new_ids = sweep_job_ids([job_id(model, row.id, row.attempts) for row in rows]) if rows else {}
    enqueued = 0
    for row in rows:
        new_id = new_ids[job_id(model, row.id, row.attempts)]
        if new_id is not None:  # under a backlog a row's job may wait longer than the grace: not twice
            enqueue_delivery(model, row.id, request_id=row.request_id, rq_job_id=new_id)
            enqueued += 1
    return enqueued


def dead(model, event_type: str | None = None, limit: int = 50) -> list:
    """The events delivery gave up on, newest first (operators list them with `flask webhooks dead`)."""
    query = select(model).where(model.dead_at.is_not(None))
    if event_type:
        query = query.where(model.event_type == event_type)
    return db.session.scalars(query.order_by(model.dead_at.desc()).limit(limit)).all()


def replay(model, event_id) -> None:
    """Operator action: deliver a dead or delivered event once more (receivers dedupe by id)."""
    row = db.session.get(model, uuid.UUID(str(event_id)))
    if row is None:
        raise LookupError(f"no outbox event {event_id}")
    row.delivered_at = None
    row.dead_at = None
    row.next_attempt_at = wall_now()
    attempts = row.attempts
    db.session.commit()
    enqueue_delivery(model, row.id, request_id=row.request_id, attempts=attempts)
