"""POST /v1/usage/events: server-to-server usage, deduplicated durably by event_id (docs/usage-billing.md).

Per batch: each event is checked on its own; the valid ones are inserted into usage_events
(one INSERT ... SELECT FROM unnest ... ON CONFLICT DO NOTHING RETURNING, in event_id order so
parallel batches cannot deadlock) and committed; then only the rows this request inserted are counted, through the
same metering as `use`, in one call for the batch (metering.use_batch; a hard limit refuses an
event and its row is deleted again).
A concurrent batch holding the same event_id makes the insert wait for its commit, so an id
is counted once whichever batch wins.
"""
from __future__ import annotations

from datetime import timedelta

from marshmallow import ValidationError
from sqlalchemy import delete, select, text

from core import clock
from core.extensions import db
from subscription_app.models import User
from subscription_app.usage import entitlements, ledger, metering
from subscription_app.usage.event_schemas import EventSchema
from subscription_app.usage.models import UsageEvent

FUTURE_SKEW = timedelta(minutes=5)
EVENT = EventSchema()
# What the metering call's refusal means for one event (503: usage state changing, retry it).
REASONS = {429: "limit_exceeded", 403: "not_entitled", 404: "unknown_feature"}


def _rejected(event_id, reason: str, message: str, **extra) -> dict:
    return {"event_id": event_id, "status": "rejected", "reason": reason, "message": message, **extra}


def _valid(raw, now) -> tuple[dict | None, dict | None]:
    """The event on its own (shape, timestamp): (event, None) or (None, rejection)."""
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    try:
        event = EVENT.load(raw)
    except ValidationError as err:
        return None, _rejected(event_id if isinstance(event_id, str) else None, "invalid", "Invalid event",
                               errors=err.messages)
    if event["timestamp"] > now + FUTURE_SKEW:
        return None, _rejected(event["event_id"], "in_future", "Timestamp is more than 5 minutes in the future")
    return event, None


def _check(event: dict, known: set[int], ents: dict) -> tuple[dict | None, dict | None]:
    """A valid event against its customer's entitlement: (event with its period, None) or (None, rejection)."""
    if event["customer"] not in known:
        return None, _rejected(event["event_id"], "unknown_customer", "No such customer")
    ent = ents[event["customer"]]
    if not ent.entitled:
        return None, _rejected(event["event_id"], "not_entitled", ent.reason)
    if event["feature"] not in ent.limits:
        return None, _rejected(event["event_id"], "unknown_feature", "Feature is not part of the customer's plan")
    if event["timestamp"] < ledger.as_datetime(ent.period_start):
        return None, _rejected(event["event_id"], "period_closed",
                               "Timestamp is before the open billing period, which is already billed")
    return {**event, "period_start": ledger.as_datetime(ent.period_start)}, None


def _checked(batch: list) -> list[tuple[dict | None, dict | None]]:
    """Every event checked, its customers read once for the whole batch (one query, one Redis round trip)."""
    now = clock.utcnow()
    valid = [_valid(raw, now) for raw in batch]
    customers = {event["customer"] for event, _ in valid if event is not None}
    known = set(db.session.scalars(select(User.id).where(User.id.in_(customers)))) if customers else set()
    ents = entitlements.cached_entitlements(known)
    for ent in ents.values():
        metering.remember_period(ent)
    return [(None, rejection) if event is None else _check(event, known, ents) for event, rejection in valid]


# One statement whatever the batch's size, its seven columns as arrays (nothing to compile per batch);
# unnest keeps the arrays' order, so rows are locked in event_id order.
INSERT_EVENTS = text("""
INSERT INTO usage_events (event_id, user_id, feature, quantity, occurred_at, period_start, api_key_id)
SELECT * FROM unnest(CAST(:event_ids AS varchar[]), CAST(:user_ids AS bigint[]), CAST(:features AS varchar[]),
                     CAST(:quantities AS bigint[]), CAST(:occurred AS timestamptz[]),
                     CAST(:periods AS timestamptz[]), CAST(:api_keys AS uuid[]))
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id, id
""")


def _insert(events: list[dict], api_key_id) -> dict[str, int]:
    """event_id -> row id of the events this request inserted (the others were known already)."""
    ordered = sorted(events, key=lambda e: e["event_id"])
    if not ordered:
        return {}
    key = str(api_key_id) if api_key_id is not None else None
    return dict(db.session.execute(INSERT_EVENTS, {
        "event_ids": [e["event_id"] for e in ordered], "user_ids": [e["customer"] for e in ordered],
        "features": [e["feature"] for e in ordered], "quantities": [e["quantity"] for e in ordered],
        "occurred": [e["timestamp"] for e in ordered], "periods": [e["period_start"] for e in ordered],
        "api_keys": [key] * len(ordered)}).all())


def _count(events: list[dict]) -> dict[str, dict]:
    """event_id -> its answer, the events counted in one metering call for the whole batch."""
    uses: dict[int, list[tuple[str, int]]] = {}
    for event in events:
        uses.setdefault(event["customer"], []).append((event["feature"], event["quantity"]))
    errors = {uid: iter(answers) for uid, answers in metering.use_batch(uses).items()}
    outcome = {}
    for event in events:
        err = next(errors[event["customer"]])
        outcome[event["event_id"]] = ({"event_id": event["event_id"], "status": "accepted"} if err is None
                                      else _rejected(event["event_id"], REASONS.get(err.code, "unavailable"),
                                                     err.message))
    return outcome


def ingest(batch: list, api_key_id) -> dict:
    checked = _checked(batch)
    seen: set[str] = set()
    results, fresh = [], []
    for event, rejection in checked:
        if rejection is None and event["event_id"] in seen:
            rejection = {"event_id": event["event_id"], "status": "duplicate"}
        results.append(rejection)
        if rejection is None:
            seen.add(event["event_id"])
            fresh.append(event)
    inserted = _insert(fresh, api_key_id)
    db.session.commit()  # durable before counting: metering may roll the session back to re-read
    outcome = _count([event for event in fresh if event["event_id"] in inserted])
    outcome.update({event["event_id"]: {"event_id": event["event_id"], "status": "duplicate"}
                    for event in fresh if event["event_id"] not in inserted})
    refused = [inserted[i] for i, r in outcome.items() if r["status"] == "rejected"]
    if refused:
        db.session.execute(delete(UsageEvent).where(UsageEvent.id.in_(refused)))
    db.session.commit()
    answers = [r if r is not None else outcome[e["event_id"]] for (e, _), r in zip(checked, results)]
    return {"results": answers, **{k: sum(a["status"] == k for a in answers)
                                   for k in ("accepted", "duplicate", "rejected")}}
