"""Transactional outbox: an event is a row written in the same transaction as the
state change it announces; delivery happens after commit, with retries.

    outbox.emit(PaymentOutbox, "payment.succeeded", "subscription_webhook", {...})
    db.session.commit()   # the row and the state change land together, or neither

After the commit that added an outbox row, its delivery job is enqueued
(core.queues.enqueue_after_commit: never for a rolled-back transaction or SAVEPOINT). If Redis
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

import requests
from flask import current_app
from sqlalchemy import Index, func, inspect, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from core import clock, metrics
from core.extensions import db
from core.http import encode, signed_post
from core.logging import bind_request_id, current_request_id
from core.on_commit import on_commit
from core.queues import WEBHOOKS, enqueue_after_commit, enqueue_now, sweep_job_ids

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 20
BACKOFF_CAP_SECONDS = 3600
# Rows of one transaction for a batch target go in calls of at most this many (the receivers' limit).
BATCH_MAX_EVENTS = 100
_BATCH_KEY = "outbox_batch"


class OutboxMixin:
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(db.String(64), nullable=False)
    target: Mapped[str] = mapped_column(db.String(64), nullable=False)
    payload: Mapped[dict] = mapped_column(JSONB, nullable=False)
    request_id: Mapped[str | None] = mapped_column(db.String(64))
    attempts: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    # Set from the clock the sweep compares it with (_now), not the database's: the two can disagree.
    next_attempt_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                      default=lambda: _now(), nullable=False)
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
    # Targets that also take {"events": [...]} in one signed call (target name -> URL), and the job
    # that delivers a list of rows so; a row a batch call did not settle retries through deliver_job.
    batch_targets: dict[str, Callable[[], str]] = field(default_factory=dict)
    deliver_batch_job: Callable | None = None


_configs: dict[type, OutboxConfig] = {}


def init_app(app, config: OutboxConfig) -> None:
    """A service's create_app registers its own outbox: its model, targets and delivery job."""
    _configs[config.model] = config
    app.extensions["outbox"] = config


def config_for(model) -> OutboxConfig:
    return _configs[model]


def emit(model, event_type: str, target: str, data: dict, event_id: uuid.UUID | None = None):
    """Add an event to the current transaction; it is delivered only if the transaction commits.

    `event_id` is for a caller that records the id elsewhere in the same transaction; a new one by default."""
    if target not in config_for(model).targets:
        raise ValueError(f"unknown outbox target {target!r}")
    event_id = event_id or uuid.uuid4()
    envelope = {"event_id": str(event_id), "type": event_type, "created_at": clock.utcnow().isoformat(),
                "data": data}
    row = model(id=event_id, event_type=event_type, target=target, payload=envelope,
                request_id=current_request_id())
    db.session.add(row)
    _deliver_after_commit(model, row)
    return row


def _deliver_after_commit(model, row) -> None:
    """One delivery job per row, except for a batch target: one job per BATCH_MAX_EVENTS rows of a transaction."""
    cfg = config_for(model)
    session = db.session()
    if row.target not in cfg.batch_targets or cfg.deliver_batch_job is None or not session.in_transaction():
        enqueue_delivery(model, row.id, request_id=row.request_id)
        return
    outer, key = session.get_transaction(), (_BATCH_KEY, model, row.target)
    pending = session.info.get(key)
    if pending is None or pending[0] is not outer:
        pending = (outer, [])
        session.info[key] = pending
        on_commit(functools.partial(_enqueue_batches, model, pending[1]), outermost=True)
    pending[1].append((row, row.id, row.request_id))


def _enqueue_batches(model, entries: list) -> None:
    """After the commit: a lone row goes as usual, more go BATCH_MAX_EVENTS to a job.

    A row added in a SAVEPOINT that rolled back is transient again (SQLAlchemy expunged it): it is left out."""
    cfg = config_for(model)
    rows = [(event_id, request_id) for row, event_id, request_id in entries if not inspect(row).transient]
    for start in range(0, len(rows), BATCH_MAX_EVENTS):
        chunk = rows[start:start + BATCH_MAX_EVENTS]
        meta = {"request_id": chunk[0][1]} if chunk[0][1] else {}
        if len(chunk) == 1:
            enqueue_now(WEBHOOKS, cfg.deliver_job, str(chunk[0][0]), meta=meta, job_id=job_id(model, chunk[0][0], 0))
        else:
            enqueue_now(WEBHOOKS, cfg.deliver_batch_job, [str(i) for i, _ in chunk], meta=meta)


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


def _now() -> datetime:
    # Retries follow the wall clock the queues run on, not the movable billing clock.
    return datetime.now(timezone.utc)


def deliver(model, event_id: str) -> str:
    """Deliver one row; returns 'delivered', 'retry', 'dead' or 'skipped'."""
    cfg = config_for(model)
    row = db.session.execute(select(model).where(model.id == uuid.UUID(str(event_id)))
                             .with_for_update(skip_locked=True)).scalar_one_or_none()
    if row is None or row.delivered_at is not None or row.dead_at is not None:
        db.session.rollback()
        return "skipped"
    error = None
    try:
        with bind_request_id(row.request_id):
            response = signed_post(cfg.targets[row.target](), encode(row.payload),
                                   extra_headers={"X-Event-ID": str(row.id)})
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}: {response.text[:200]}"
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    attempt = _record_attempt(row, error)
    db.session.commit()
    _after_attempt(model, attempt)
    return attempt["outcome"]


def _record_attempt(row, error: str | None) -> dict:
    """One attempt on the row (in the caller's transaction); what _after_attempt needs once it commits.

    Read before the commit expires the row, so nothing after it opens a transaction that would hold back
    the retry's enqueue."""
    row.attempts += 1
    row.last_error = error
    delay = None
    if error is None:
        row.delivered_at, outcome = _now(), "delivered"
    elif row.attempts >= MAX_ATTEMPTS:
        row.dead_at, outcome = _now(), "dead"
    else:
        delay = backoff_seconds(row.attempts)
        row.next_attempt_at, outcome = _now() + timedelta(seconds=delay), "retry"
    return {"outcome": outcome, "id": row.id, "event_type": row.event_type, "attempts": row.attempts,
            "error": error, "delay": delay, "request_id": row.request_id}


def _after_attempt(model, attempt: dict) -> None:
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


def deliver_batch(model, event_ids: list[str]) -> dict:
    """Deliver rows of one batch target in one signed call; counts by outcome.

    The receiver answers one result per event ({"results": [{"event_id", "status"}]}); a row whose
    status is not 2xx, or all rows when the call itself fails, count an attempt and retry one by one
    through the single-event endpoint, with the usual backoff.
    """
    cfg = config_for(model)
    rows = db.session.scalars(
        select(model).where(model.id.in_([uuid.UUID(str(i)) for i in event_ids]), model.delivered_at.is_(None),
                            model.dead_at.is_(None))
        .order_by(model.created_at, model.id).with_for_update(skip_locked=True)).all()
    if not rows:
        db.session.rollback()
        return {"skipped": len(event_ids)}
    statuses, error = {}, None
    try:
        with bind_request_id(rows[0].request_id):
            response = signed_post(cfg.batch_targets[rows[0].target](), encode({"events": [r.payload for r in rows]}))
        if 200 <= response.status_code < 300:
            statuses = {str(a.get("event_id")): a.get("status") for a in response.json().get("results", [])}
        else:
            error = f"HTTP {response.status_code}: {response.text[:200]}"
    except (requests.RequestException, ValueError, AttributeError) as exc:  # ValueError: not JSON
        error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    attempts = []
    for row in rows:
        status = statuses.get(str(row.id))
        ok = isinstance(status, int) and 200 <= status < 300
        attempts.append(_record_attempt(row, None if ok else error or f"HTTP {status} in a batch of {len(rows)}"))
    db.session.commit()
    for attempt in attempts:
        _after_attempt(model, attempt)
    outcomes = [a["outcome"] for a in attempts]
    counts = {o: outcomes.count(o) for o in set(outcomes)}
    return {**counts, "skipped": len(event_ids) - len(rows)} if len(rows) < len(event_ids) else counts


def sweep(model, grace_seconds: float = 10, limit: int = 500) -> int:
    """Re-enqueue rows whose delivery is due but whose job is not waiting (lost with Redis, or failed)."""
    cutoff = _now() - timedelta(seconds=grace_seconds)
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
    row.next_attempt_at = _now()
    attempts = row.attempts
    db.session.commit()
    enqueue_delivery(model, row.id, request_id=row.request_id, attempts=attempts)
