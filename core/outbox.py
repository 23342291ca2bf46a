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

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import requests
from flask import current_app
from sqlalchemy import Index, func, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from core import clock, metrics
from core.extensions import db
from core.http import encode, signed_post
from core.logging import bind_request_id, current_request_id
from core.queues import WEBHOOKS, enqueue_after_commit

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 20
BACKOFF_CAP_SECONDS = 3600


class OutboxMixin:
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(db.String(64), nullable=False)
    target: Mapped[str] = mapped_column(db.String(64), nullable=False)
    payload: Mapped[dict] = mapped_column(JSONB, nullable=False)
    request_id: Mapped[str | None] = mapped_column(db.String(64))
    attempts: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                      nullable=False)
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
    enqueue_delivery(model, event_id, request_id=row.request_id)
    return row


def enqueue_delivery(model, event_id, *, delay_seconds: float = 0, request_id: str | None = None):
    """Deliver the row once the current transaction commits (at once outside one), under its request id."""
    meta = {"request_id": request_id} if request_id else {}
    return enqueue_after_commit(WEBHOOKS, config_for(model).deliver_job, str(event_id), delay=delay_seconds,
                                meta=meta)


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
    row.attempts += 1
    if error is None:
        row.delivered_at = _now()
        row.last_error = None
        outcome = "delivered"
    elif row.attempts >= MAX_ATTEMPTS:
        row.dead_at = _now()
        row.last_error = error
        outcome = "dead"
    else:
        delay = backoff_seconds(row.attempts)
        row.next_attempt_at = _now() + timedelta(seconds=delay)
        row.last_error = error
        outcome = "retry"
    db.session.commit()
    metrics.webhook_delivery(row.event_type, outcome)
    if outcome == "retry":
        log.warning("outbox delivery of %s failed (attempt %s): %s", row.event_type, row.attempts, error)
        enqueue_delivery(model, row.id, delay_seconds=delay, request_id=row.request_id)
    elif outcome == "dead":
        log.error("outbox event %s (%s) gave up after %s attempts", row.id, row.event_type, row.attempts)
    return outcome


def sweep(model, grace_seconds: float = 10, limit: int = 500) -> int:
    """Re-enqueue rows whose delivery is due but that no job seems to hold."""
    cutoff = _now() - timedelta(seconds=grace_seconds)
    rows = db.session.execute(
        select(model.id, model.request_id)
        .where(model.delivered_at.is_(None), model.dead_at.is_(None), model.next_attempt_at <= cutoff)
        .order_by(model.next_attempt_at).limit(limit)).all()
    db.session.rollback()
    for event_id, request_id in rows:
        enqueue_delivery(model, event_id, request_id=request_id)
    return len(rows)


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
    db.session.commit()
    enqueue_delivery(model, row.id, request_id=row.request_id)
