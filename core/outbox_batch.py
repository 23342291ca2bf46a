"""Batch delivery of an outbox target that takes {"events": [...]} in one signed call (core/outbox.py).

    outbox_batch.drain(SubscriptionOutbox, "payment_charges")   # the drain job: every due row, one call

A commit that wrote rows for a batch target asks for one drain job (outbox.request_drain); while it
waits in the queue, later commits add their rows to it instead of enqueueing jobs of their own, so a
busy service sends fewer, larger calls and an idle one still sends at once. The job locks the rows it
takes (FOR UPDATE SKIP LOCKED) until it commits their attempts: if its worker dies first, the locks go
with the connection and the rows stay due, for the next drain or the sweep. Receivers dedupe by event
id, so a call whose answer was lost is harmless to repeat.
"""
from __future__ import annotations

import uuid

import requests
from sqlalchemy import or_, select

from core.extensions import db
from core.http import encode, signed_post
from core.logging import bind_request_id
from core.outbox import (BATCH_MAX_EVENTS, after_attempt, config_for, deliver_locked, drain_started,
                         record_attempt, request_drain, wall_now)


def drain(model, target: str) -> dict:
    """Deliver up to BATCH_MAX_EVENTS due rows of the target in one call; counts by outcome.

    A full batch asks for another drain before its call, so a backlog is sent by several workers at once."""
    drain_started(model, target)
    # A row never tried is due whatever this host's clock says (the web host's may run ahead of it).
    due = or_(model.attempts == 0, model.next_attempt_at <= wall_now())
    rows = db.session.scalars(
        select(model).where(model.target == target, model.delivered_at.is_(None), model.dead_at.is_(None), due)
        .order_by(model.next_attempt_at, model.id).limit(BATCH_MAX_EVENTS).with_for_update(skip_locked=True)).all()
    if not rows:
        db.session.rollback()
        return {"skipped": 1}
    if len(rows) == BATCH_MAX_EVENTS:
        request_drain(model, target, rows[-1].request_id)
    if len(rows) == 1:  # a lone event goes as it always did, to the single-event endpoint
        return {deliver_locked(model, rows[0]): 1}
    return _send(model, rows)


def deliver_batch(model, event_ids: list[str]) -> dict:
    """Deliver these rows of one batch target in one signed call; counts by outcome (a job enqueued by
    an earlier release, which named its rows)."""
    rows = db.session.scalars(
        select(model).where(model.id.in_([uuid.UUID(str(i)) for i in event_ids]), model.delivered_at.is_(None),
                            model.dead_at.is_(None))
        .order_by(model.created_at, model.id).with_for_update(skip_locked=True)).all()
    if not rows:
        db.session.rollback()
        return {"skipped": len(event_ids)}
    counts = _send(model, rows)
    return {**counts, "skipped": len(event_ids) - len(rows)} if len(rows) < len(event_ids) else counts


def _send(model, rows: list) -> dict:
    """One call for the locked rows, then one attempt each, committed together.

    The receiver answers one result per event ({"results": [{"event_id", "status"}]}); a row whose
    status is not 2xx, or all rows when the call itself fails, count an attempt and retry one by one
    through the single-event endpoint, with the usual backoff.
    """
    cfg = config_for(model)
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
        attempts.append(record_attempt(row, None if ok else error or f"HTTP {status} in a batch of {len(rows)}"))
    db.session.commit()
    for attempt in attempts:
        after_attempt(model, attempt)
    outcomes = [a["outcome"] for a in attempts]
    return {o: outcomes.count(o) for o in set(outcomes)}
