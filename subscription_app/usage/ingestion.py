"""POST /v1/usage/events: server-to-server usage, deduplicated durably by event_id (docs/usage-billing.md).

Per batch: each event is checked on its own; the valid ones are inserted into usage_events
(INSERT ... ON CONFLICT DO NOTHING RETURNING, in event_id order so parallel batches cannot
deadlock) and committed; then only the rows this request inserted are counted, through the
same metering call as `use` (a hard limit refuses an event and its row is deleted again).
A concurrent batch holding the same event_id makes the insert wait for its commit, so an id
is counted once whichever batch wins.

The rows are what invoices bill (arrears.py), so the insert is ordered against a period close by
a per-customer lock (shared here, exclusive there): the close sees every event of its period.
"""
from __future__ import annotations

from datetime import timedelta

from marshmallow import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app.models import User
from subscription_app.usage import entitlements, ledger, metering
from subscription_app.usage.event_schemas import EventSchema
from subscription_app.usage.models import EVENT_COUNTED, EVENT_PENDING, UsageEvent

FUTURE_SKEW = timedelta(minutes=5)
EVENT = EventSchema()
# What the metering call's refusal means for one event (503: usage state changing, retry it).
REASONS = {429: "limit_exceeded", 403: "not_entitled", 404: "unknown_feature"}


def _rejected(event_id, reason: str, message: str, **extra) -> dict:
    return {"event_id": event_id, "status": "rejected", "reason": reason, "message": message, **extra}


def _load(raw) -> tuple[dict | None, dict | None]:
    """(event, None) or (None, rejection): the event's own fields only."""
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    try:
        return EVENT.load(raw), None
    except ValidationError as err:
        return None, _rejected(event_id if isinstance(event_id, str) else None, "invalid", "Invalid event",
                               errors=err.messages)


def _user_ids(events: list[dict]) -> dict[tuple[str, int | str], int]:
    """Each customer reference of the batch -> its user id, in two queries at most (unknown ones are absent)."""
    wanted = {"id": set(), "external_id": set()}
    for event in events:
        kind, value = event["customer"]
        wanted[kind].add(value)
    found = {}
    if wanted["id"]:
        found.update((("id", uid), uid) for uid in db.session.scalars(select(User.id).where(
            User.id.in_(wanted["id"]))))
    if wanted["external_id"]:
        found.update((("external_id", ext), uid) for ext, uid in db.session.execute(
            select(User.external_id, User.id).where(User.external_id.in_(wanted["external_id"]))))
    return found


def _check(event: dict, user_id: int | None) -> tuple[dict | None, dict | None]:
    """(event with its user and period, None) or (None, rejection)."""
    now = clock.utcnow()
    if event["timestamp"] > now + FUTURE_SKEW:
        return None, _rejected(event["event_id"], "in_future", "Timestamp is more than 5 minutes in the future")
    if user_id is None:
        kind, value = event["customer"]
        what = f"external_id '{value}'" if kind == "external_id" else f"user id {value}"
        return None, _rejected(event["event_id"], "unknown_customer", f"No customer with {what}")
    ent = entitlements.cached_entitlement(user_id)
    if not ent.entitled:
        return None, _rejected(event["event_id"], "not_entitled", ent.reason)
    if event["feature"] not in ent.limits:
        return None, _rejected(event["event_id"], "unknown_feature", "Feature is not part of the customer's plan")
    if event["timestamp"] < ledger.as_datetime(ent.period_start):
        return None, _rejected(event["event_id"], "period_closed",
                               "Timestamp is before the open billing period, which is already billed")
    return {**event, "customer": user_id, "period_start": ledger.as_datetime(ent.period_start)}, None


def _verified(fresh: list[dict]) -> tuple[list[dict], dict[str, dict], set[int]]:
    """Under the shared events lock (held until commit): the events with their customer's current period.

    A close that committed since the cached entitlement was read moved the period on: such an event
    belongs to the next period (or is refused if the subscription ended). A close still running holds
    the lock exclusively, so this waits for it: every event it did not see lands after it.
    Answers (events to insert, rejections by event_id, users whose period moved).
    """
    users = {e["customer"] for e in fresh}
    ledger.lock_events(users, shared=True)
    current = entitlements.current_periods(users)
    kept, rejections, moved = [], {}, set()
    for event in fresh:
        period_start = current.get(event["customer"])
        if period_start is None:
            rejections[event["event_id"]] = _rejected(event["event_id"], "not_entitled",
                                                      "The customer's subscription has ended")
            continue
        if period_start != event["period_start"]:
            moved.add(event["customer"])
            event = {**event, "period_start": period_start}
        kept.append(event)
    return kept, rejections, moved


def _insert(events: list[dict], api_key_id) -> dict[str, int]:
    """event_id -> row id of the events this request inserted (the others were known already)."""
    rows = [{"event_id": e["event_id"], "user_id": e["customer"], "feature": e["feature"], "quantity": e["quantity"],
             "occurred_at": e["timestamp"], "period_start": e["period_start"], "api_key_id": api_key_id,
             "state": EVENT_PENDING}
            for e in sorted(events, key=lambda e: e["event_id"])]
    if not rows:
        return {}
    stmt = insert(UsageEvent).values(rows).on_conflict_do_nothing(index_elements=[UsageEvent.event_id])
    return dict(db.session.execute(stmt.returning(UsageEvent.event_id, UsageEvent.id)).all())


def _count(event: dict) -> dict:
    try:
        metering.use_feature(event["customer"], event["feature"], event["quantity"], event=True)
    except ApiError as err:
        reason = REASONS.get(err.code, "unavailable")
        return _rejected(event["event_id"], reason, err.message)
    return {"event_id": event["event_id"], "status": "accepted"}


def _settle(refused: list[dict], counted: list[int], inserted: dict[str, int], outcome: dict[str, dict]) -> None:
    """Mark counted events; delete refused ones, unless a close already billed them with their period."""
    if refused:
        ledger.lock_events({e["customer"] for e in refused}, shared=True)
        current = entitlements.current_periods({e["customer"] for e in refused})
        for event in refused:
            if current.get(event["customer"]) == event["period_start"]:
                db.session.execute(delete(UsageEvent).where(UsageEvent.id == inserted[event["event_id"]]))
            else:  # its period was closed meanwhile, with this event on the invoice: recorded
                outcome[event["event_id"]] = {"event_id": event["event_id"], "status": "accepted"}
    if counted:
        # Only pending ones: an admin reset meanwhile zeroed the others, and that stands.
        db.session.execute(update(UsageEvent).where(UsageEvent.id.in_(counted), UsageEvent.state == EVENT_PENDING)
                           .values(state=EVENT_COUNTED))
    db.session.commit()


def ingest(batch: list, api_key_id) -> dict:
    loaded = [_load(raw) for raw in batch]
    users = _user_ids([event for event, _ in loaded if event is not None])
    checked = [(event, rejection) if event is None else _check(event, users.get(event["customer"]))
               for event, rejection in loaded]
    seen: set[str] = set()
    results, fresh = [], []
    for event, rejection in checked:
        if rejection is None and event["event_id"] in seen:
            rejection = {"event_id": event["event_id"], "status": "duplicate"}
        results.append(rejection)
        if rejection is None:
            seen.add(event["event_id"])
            fresh.append(event)
    fresh, outcome, moved = _verified(fresh) if fresh else ([], {}, set())
    inserted = _insert(fresh, api_key_id)
    db.session.commit()  # durable (and billed) before counting: metering may roll the session back to re-read
    for user_id in moved:  # the cached entitlement still names the closed period
        entitlements.invalidate(user_id)
    refused, counted = [], []
    for event in fresh:
        if event["event_id"] not in inserted:
            outcome[event["event_id"]] = {"event_id": event["event_id"], "status": "duplicate"}
            continue
        outcome[event["event_id"]] = _count(event)
        if outcome[event["event_id"]]["status"] == "rejected":
            refused.append(event)
        else:
            counted.append(inserted[event["event_id"]])
    _settle(refused, counted, inserted, outcome)
    answers = [r if r is not None else outcome[e["event_id"]] for (e, _), r in zip(checked, results)]
    return {"results": answers, **{k: sum(a["status"] == k for a in answers)
                                   for k in ("accepted", "duplicate", "rejected")}}
