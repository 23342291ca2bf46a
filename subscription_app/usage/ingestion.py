"""POST /v1/usage/events: server-to-server usage, deduplicated durably by event_id (docs/usage-billing.md).

Per batch: each event is checked on its own (its customers read in one query, their cached
entitlements in one Redis round trip); the valid ones are inserted into usage_events, pending
(one INSERT ... SELECT FROM unnest ... ON CONFLICT DO NOTHING RETURNING, in event_id order so
parallel batches cannot deadlock) and committed; then only the rows this request inserted are
counted, through the same limits as `use`, in one metering call for the batch
(metering.use_batch); a hard limit refuses an event and its row is deleted again, the others
are marked counted in one statement.
A concurrent batch holding the same event_id makes the insert wait for its commit, so an id
is counted once whichever batch wins.

The rows are what invoices bill (arrears.py), so the insert is ordered against a period close by
a per-customer lock (shared here, exclusive there, taken for the whole batch in one query): the
close sees every event of its period.
"""
from __future__ import annotations

from datetime import timedelta

from marshmallow import ValidationError
from sqlalchemy import delete, or_, select, text

from core import clock
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


def _load(raw, now) -> tuple[dict | None, dict | None]:
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


def _user_ids(events: list[dict]) -> dict[tuple[str, int | str], int]:
    """Each customer reference of the batch -> its user id, in one query (unknown ones are absent)."""
    wanted = {"id": set(), "external_id": set()}
    for event in events:
        kind, value = event["customer"]
        wanted[kind].add(value)
    if not events:
        return {}
    found = {}
    for uid, ext in db.session.execute(select(User.id, User.external_id).where(
            or_(User.id.in_(wanted["id"]), User.external_id.in_(wanted["external_id"])))):
        if uid in wanted["id"]:
            found["id", uid] = uid
        if ext in wanted["external_id"]:
            found["external_id", ext] = uid
    return found


def _check(event: dict, user_id: int | None, ents: dict) -> tuple[dict | None, dict | None]:
    """A valid event against its customer's entitlement: (event with its user and period, None) or (None, rejection)."""
    if user_id is None:
        kind, value = event["customer"]
        what = f"external_id '{value}'" if kind == "external_id" else f"user id {value}"
        return None, _rejected(event["event_id"], "unknown_customer", f"No customer with {what}")
    ent = ents[user_id]
    if not ent.entitled:
        return None, _rejected(event["event_id"], "not_entitled", ent.reason)
    if event["feature"] not in ent.limits:
        return None, _rejected(event["event_id"], "unknown_feature", f"Feature '{event['feature']}' is not in the plan")
    if event["timestamp"] < ledger.as_datetime(ent.period_start):
        return None, _rejected(event["event_id"], "period_closed",
                               "Timestamp is before the open billing period, which is already billed")
    return {**event, "customer": user_id, "period_start": ledger.as_datetime(ent.period_start)}, None


def _checked(batch: list) -> list[tuple[dict | None, dict | None]]:
    """Every event checked, its customers read once for the whole batch (one query, one Redis round trip)."""
    now = clock.utcnow()
    loaded = [_load(raw, now) for raw in batch]
    users = _user_ids([event for event, _ in loaded if event is not None])
    ents = entitlements.cached_entitlements(users.values(), {e["feature"] for e, _ in loaded if e is not None})
    for ent in ents.values():
        metering.remember_period(ent)
    return [(event, rejection) if event is None else _check(event, users.get(event["customer"]), ents)
            for event, rejection in loaded]


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


# One statement whatever the batch's size, its columns as arrays (nothing to compile per batch);
# unnest keeps the arrays' order, so rows are locked in event_id order.
INSERT_EVENTS = text("""
INSERT INTO usage_events (event_id, user_id, feature, quantity, occurred_at, period_start, api_key_id, state)
SELECT e.*, CAST(:api_key AS uuid), CAST(:state AS smallint)
FROM unnest(CAST(:event_ids AS varchar[]), CAST(:user_ids AS bigint[]), CAST(:features AS varchar[]),
            CAST(:quantities AS bigint[]), CAST(:occurred AS timestamptz[]), CAST(:periods AS timestamptz[])) AS e
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id, id
""")


def _insert(events: list[dict], api_key_id) -> dict[str, int]:
    """event_id -> row id of the events this request inserted, pending (the others were known already)."""
    ordered = sorted(events, key=lambda e: e["event_id"])
    if not ordered:
        return {}
    return dict(db.session.execute(INSERT_EVENTS, {
        "event_ids": [e["event_id"] for e in ordered], "user_ids": [e["customer"] for e in ordered],
        "features": [e["feature"] for e in ordered], "quantities": [e["quantity"] for e in ordered],
        "occurred": [e["timestamp"] for e in ordered], "periods": [e["period_start"] for e in ordered],
        "api_key": str(api_key_id) if api_key_id is not None else None, "state": EVENT_PENDING}).all())


# Only pending ones: an admin reset meanwhile zeroed the others, and that stands. One array parameter
# and no ORM session synchronisation: the batch's rows are not in the session.
MARK_COUNTED = text("UPDATE usage_events SET state = :counted WHERE id = ANY(CAST(:ids AS bigint[])) AND state = :pending")


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


def _settle(refused: list[dict], counted: list[int], inserted: dict[str, int], outcome: dict[str, dict]) -> None:
    """Mark counted events; delete refused ones, unless a close already billed them with their period."""
    if refused:
        ledger.lock_events({e["customer"] for e in refused}, shared=True)
        current = entitlements.current_periods({e["customer"] for e in refused})
        gone = []
        for event in refused:
            if current.get(event["customer"]) == event["period_start"]:
                gone.append(inserted[event["event_id"]])
            else:  # its period was closed meanwhile, with this event on the invoice: recorded
                outcome[event["event_id"]] = {"event_id": event["event_id"], "status": "accepted"}
        if gone:
            db.session.execute(delete(UsageEvent).where(UsageEvent.id.in_(gone)))
    if counted:
        db.session.execute(MARK_COUNTED, {"ids": counted, "counted": EVENT_COUNTED, "pending": EVENT_PENDING})
    db.session.commit()


def ingest(batch: list, api_key_id) -> dict:
    checked = _checked(batch)
    seen: set[str] = set()
    results, fresh = [], []
    for event, rejection in checked:
        if event is not None and event["event_id"] in seen:
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
    new = [event for event in fresh if event["event_id"] in inserted]
    outcome.update(_count(new))
    outcome.update({event["event_id"]: {"event_id": event["event_id"], "status": "duplicate"}
                    for event in fresh if event["event_id"] not in inserted})
    refused = [event for event in new if outcome[event["event_id"]]["status"] == "rejected"]
    counted = [inserted[event["event_id"]] for event in new if outcome[event["event_id"]]["status"] != "rejected"]
    _settle(refused, counted, inserted, outcome)
    answers = [r if r is not None else outcome[e["event_id"]] for (e, _), r in zip(checked, results)]
    return {"results": answers, **{k: sum(a["status"] == k for a in answers)
                                   for k in ("accepted", "duplicate", "rejected")}}
