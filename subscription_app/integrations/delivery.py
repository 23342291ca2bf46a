"""Deliver one webhook (the RQ job's body), retry it on the Standard Webhooks schedule, sweep.

The delivery row is the truth: the job locks it (FOR NO KEY UPDATE SKIP LOCKED), writes the attempt
down on a connection of its own (committed before the call), POSTs, and records the attempt's answer and
the next one in one commit. A worker killed mid-POST commits nothing else, so the row stays pending and
due, and the sweep enqueues it again; the job that next holds the row finds the attempt with no answer,
logs it as interrupted and counts it. Receivers dedupe by webhook-id.
"""
from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

import requests
from flask import current_app
from sqlalchemy import insert, select, update

from core import http
from core.extensions import db
from core.queues import sweep_job_ids
from subscription_app.integrations import events, signing
from subscription_app.integrations.guard import Unresolved, UnsafeTarget, pin
from subscription_app.integrations.models import (SNIPPET_BYTES, IntegrationEvent, WebhookAttempt, WebhookDelivery,
                                                  WebhookEndpoint)

log = logging.getLogger(__name__)
# Seconds before attempt n+1 after n failed (the spec: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.1
DISABLE_AFTER = timedelta(days=5)
EARLY_SLACK = timedelta(seconds=2)  # RQ's scheduler may move a delayed job up to a second early
IN_FLIGHT = "no answer recorded: the call is in flight, or its worker stopped during it"
INTERRUPTED = "interrupted: the worker stopped during the call, no answer was recorded"


def _settings():
    return current_app.config["SETTINGS"]


def _locked(delivery_id: str):
    """(delivery, endpoint, event) in one round trip, the delivery row locked; None if another job holds it."""
    return db.session.execute(
        select(WebhookDelivery, WebhookEndpoint, IntegrationEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(IntegrationEvent, IntegrationEvent.id == WebhookDelivery.event_id)
        # NO KEY: the attempt written on its own connection (its foreign key takes KEY SHARE) must not wait for it.
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update(of=WebhookDelivery, skip_locked=True, key_share=True)).first()


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    keep_previous = endpoint.previous_secret and endpoint.previous_expires_at and \
        endpoint.previous_expires_at > events.now()
    return [endpoint.secret, endpoint.previous_secret] if keep_previous else [endpoint.secret]


def _read_capped(response: requests.Response) -> str:
    chunks, size = [], 0
    for chunk in response.iter_content(256):
        chunks.append(chunk)
        size += len(chunk)
        if size >= SNIPPET_BYTES:
            break
    return b"".join(chunks)[:SNIPPET_BYTES].decode("utf-8", "replace")


def post(endpoint: WebhookEndpoint, msg_id: str, body: bytes) -> tuple[int | None, str | None, str | None]:
    """(status code, response snippet, error): one POST, bounded in time and in what is read."""
    try:
        target = pin(endpoint.url, production=_settings().is_production)
    except UnsafeTarget as exc:
        return None, None, f"refused: {exc}"
    except Unresolved as exc:
        return None, None, f"{exc.__class__.__name__}: {exc}"
    headers = {"Content-Type": "application/json", "User-Agent": "billing-backend-webhooks/1", "Host": target.host,
               **signing.headers(signing_secrets(endpoint), msg_id, int(time.time()), body)}
    timeout = (_settings().outgoing_webhook_connect_timeout_seconds, _settings().outgoing_webhook_read_timeout_seconds)
    try:
        with http.session().post(target.url, data=body, headers=headers, timeout=timeout, stream=True,
                                 allow_redirects=False) as response:
            return response.status_code, _read_capped(response), None
    except requests.RequestException as exc:
        return None, None, f"{exc.__class__.__name__}: {str(exc)[:200]}"


def deliver(delivery_id: str) -> str:
    """Returns 'succeeded', 'retry', 'failed', 'dead' or 'skipped'."""
    row = _locked(delivery_id)
    delivery, endpoint, event = row if row is not None else (None, None, None)
    if delivery is None or delivery.status != "pending" or \
            (delivery.next_attempt_at and delivery.next_attempt_at > events.now() + EARLY_SLACK):
        db.session.rollback()
        return "skipped"
    if not endpoint.enabled:
        delivery.status, delivery.next_attempt_at, delivery.last_error = "failed", None, "endpoint disabled"
        db.session.commit()
        return "failed"
    if _count_interrupted(delivery) and delivery.attempts >= len(RETRY_SCHEDULE):
        delivery.status, delivery.next_attempt_at, delivery.last_error = "dead", None, INTERRUPTED
        db.session.commit()
        return "dead"
    attempt_id = _write_down(delivery.id)
    started = time.perf_counter()
    code, snippet, error = post(endpoint, delivery.id, http.encode(event.payload))
    latency_ms = int((time.perf_counter() - started) * 1000)
    outcome = _record(delivery, endpoint, attempt_id, (code, snippet, error, latency_ms))
    # Read before the commit: reading after it would open a new transaction and hold the enqueue for its commit.
    retry_in = (delivery.next_attempt_at - events.now()).total_seconds() if outcome == "retry" else None
    attempts = delivery.attempts
    db.session.commit()
    if retry_in is not None:
        events.enqueue(delivery_id, attempts, delay=max(retry_in, 0))
    return outcome


def _count_interrupted(delivery: WebhookDelivery) -> int:
    """Count the attempts left with no answer by jobs that held this row before (they died during the call)."""
    stale = db.session.scalars(update(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id,
                                                            WebhookAttempt.error == IN_FLIGHT)
                               .values(error=INTERRUPTED).returning(WebhookAttempt.id)).all()
    delivery.attempts += len(stale)
    return len(stale)


def _write_down(delivery_id: str) -> int:
    """The attempt, committed on its own connection before the call: a worker killed during it leaves this row."""
    with db.engine.begin() as conn:
        return conn.execute(insert(WebhookAttempt).values(delivery_id=delivery_id, attempted_at=events.now(),
                                                          latency_ms=0, error=IN_FLIGHT)
                            .returning(WebhookAttempt.id)).scalar_one()


def _record(delivery, endpoint, attempt_id: int, answer: tuple) -> str:
    code, snippet, error, latency_ms = answer
    at = events.now()
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_latency_ms, delivery.last_response_snippet = code, latency_ms, snippet
    if code is not None and 200 <= code < 300:
        outcome = _succeeded(delivery, endpoint)
    else:
        delivery.last_error = error or f"HTTP {code}"
        outcome = _failed(delivery, endpoint, code, at)
    db.session.execute(update(WebhookAttempt).where(WebhookAttempt.id == attempt_id).values(
        status_code=code, latency_ms=latency_ms, response_snippet=snippet,
        error=delivery.last_error if outcome != "succeeded" else None, next_attempt_at=delivery.next_attempt_at))
    return outcome


def _succeeded(delivery, endpoint) -> str:
    delivery.status, delivery.next_attempt_at, delivery.last_error = "succeeded", None, None
    endpoint.failing_since = None
    return "succeeded"


def _failed(delivery, endpoint, code, at) -> str:
    endpoint.failing_since = endpoint.failing_since or at
    if code == 410:
        disable(endpoint, "the receiver answered 410 Gone")
        delivery.status, delivery.next_attempt_at = "failed", None
        return "failed"
    if at - endpoint.failing_since >= DISABLE_AFTER:
        disable(endpoint, f"every delivery failed since {endpoint.failing_since.isoformat()} (5 days)")
    if delivery.attempts >= len(RETRY_SCHEDULE):
        delivery.status, delivery.next_attempt_at = "dead", None
        log.warning("webhook %s to endpoint %s gave up after %s attempts", delivery.id, endpoint.id, delivery.attempts)
        return "dead"
    delay = RETRY_SCHEDULE[delivery.attempts] * random.uniform(1 - JITTER, 1 + JITTER)
    delivery.next_attempt_at = at + timedelta(seconds=delay)
    return "retry"


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled, endpoint.disabled_reason = False, reason
    log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)


def sweep(grace_seconds: float = 10, limit: int = 500) -> int:
    """Enqueue pending deliveries that are due and whose job is not waiting (after a crash or Redis loss)."""
    cutoff = events.now() - timedelta(seconds=grace_seconds)
    rows = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.attempts)
                              .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= cutoff)
                              .order_by(WebhookDelivery.next_attempt_at).limit(limit)).all()
    db.session.rollback()
    new_ids = sweep_job_ids([events.job_id(i, n) for i, n in rows]) if rows else {}
    enqueued = 0
    for delivery_id, attempts in rows:
        new_id = new_ids[events.job_id(delivery_id, attempts)]
        if new_id is not None:  # under a backlog a delivery's job may wait longer than the grace: not twice
            events.enqueue(delivery_id, attempts, rq_job_id=new_id)
            enqueued += 1
    return enqueued
