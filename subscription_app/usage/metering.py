"""Usage service layer: use a feature, read usage, admin reset, statistics.

The hot path (`use_feature`) is one EVALSHA in the steady state: the script reads the
cached entitlement and the counter and increments atomically. PostgreSQL is read only when
the script reports the entitlement missing from the cache or the counter missing (new
period, flushed or evicted Redis), after which the call is retried.
"""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import func, select

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app.models import User
from subscription_app.usage import arrears, entitlements, keys, ledger, thresholds
from subscription_app.usage.entitlements import UNLIMITED, Entitlement
from subscription_app.usage.models import BILLED_EVENT_STATES, UsageCounter, UsageEvent
from subscription_app.usage.store import get_store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
HINT_CAPACITY = 100_000
# user id -> (period start, period end) last seen in this process. Only a hint for building
# the counter key: the script compares it with the cached entitlement and says "stale".
_period_hint: dict[int, tuple[int, int]] = {}
HISTORY_PERIODS = 12


def _remember(user_id: int, period_start: int, period_end: int) -> None:
    if len(_period_hint) >= HINT_CAPACITY:
        _period_hint.clear()
    _period_hint[user_id] = (period_start, period_end)


def _not_entitled(reason: str):
    return ApiError(403, reason or entitlements.NO_SUBSCRIPTION)


def _unknown_feature(feature: str):
    return ApiError(404, f"Feature '{feature}' is not part of your plan")


def _view(feature: str, used: int, limit: int, period_start: int, period_end: int) -> dict:
    unlimited = limit == UNLIMITED
    return {"feature": feature, "used": int(used), "limit": None if unlimited else limit,
            "remaining": None if unlimited else max(limit - int(used), 0),
            "period_start": ledger.as_datetime(period_start), "period_end": ledger.as_datetime(period_end)}


def _fingerprint(feature: str, delta: int) -> str:
    return f"{feature}:{delta}"


def use_feature(user_id: int, feature: str, delta: int, idempotency_key: str | None = None) -> dict:
    """Count a `use` call's `delta` units against the limit (reported events: `use_batch`)."""
    store = get_store()
    settings = current_app.config["SETTINGS"]
    fingerprint = _fingerprint(feature, delta)
    idem_key = keys.idempotency(user_id, idempotency_key)
    for _ in range(MAX_ATTEMPTS):
        ps, pe = _period_hint.get(user_id, (0, 0))
        reply = store.use(
            keys=[keys.entitlement(user_id), keys.counter(user_id, feature, ps), keys.dirty(user_id), idem_key,
                  keys.sealed(user_id), keys.event_counter(user_id, feature, ps)],
            args=[feature, ps, pe, delta, 1 if idempotency_key else 0, fingerprint,
                  settings.usage_idempotency_ttl_seconds, keys.dirty_member(feature, ps, pe)])
        outcome = reply[0]
        if outcome == "ok":
            used, limit, _, newly_dirty, marks = reply[1:]
            if newly_dirty:
                ledger.announce(user_id)
            if marks:
                thresholds.check_crossed(user_id, feature, ps, pe, int(used), delta, marks)
            return {**_view(feature, used, limit, ps, pe), "replayed": False}
        if outcome == "noent":
            entitlements.refresh(user_id)
        elif outcome == "stale":
            _remember(user_id, int(reply[1]), int(reply[2]))
        elif outcome == "missing":
            ledger.rehydrate(user_id, [feature], ps, pe)
        elif outcome == "sealed":  # the period is being closed: count in the one that follows it
            arrears.await_close(user_id, ps)
            entitlements.refresh(user_id)
        elif outcome == "forbidden":
            raise _not_entitled(reply[1])
        elif outcome == "nofeature":
            raise _unknown_feature(feature)
        elif outcome == "over":
            raise _over(feature, int(reply[1]), int(reply[2]), int(reply[3]), delta)
        elif outcome == "replay":
            return _replay(feature, reply[1], fingerprint, ps, pe)
    # Only reachable if the entitlement changes on every attempt (a storm of renewals).
    raise _changing()


def _changing() -> ApiError:
    return ApiError(503, "Usage state is changing, retry shortly", headers={"Retry-After": "1"})


def _over(feature: str, used: int, limit: int, resets_at: int, delta: int) -> ApiError:
    retry_after = max(1, resets_at - int(clock.utcnow().timestamp()))
    return ApiError(429, f"Usage limit reached for '{feature}': {used} of {limit} used this period",
                    headers={"Retry-After": str(retry_after)},
                    extra={"feature": feature, "used": used, "limit": limit, "requested": delta,
                           "resets_at": ledger.as_datetime(resets_at).isoformat()})


def _block(user_id: int, uses: list[tuple[str, int]]) -> tuple[list[str], list, list[str], int, int]:
    """One user's part of a USE_BATCH_SCRIPT call: (keys, args, its features, period start, end)."""
    ps, pe = _period_hint.get(user_id, (0, 0))
    features = sorted({feature for feature, _ in uses})
    number = {feature: i + 1 for i, feature in enumerate(features)}
    args = [ps, pe, len(features), len(uses), *features]
    for feature, delta in uses:
        args += (number[feature], delta)
    counters = [k for f in features for k in (keys.counter(user_id, f, ps), keys.event_counter(user_id, f, ps))]
    return [keys.entitlement(user_id), keys.sealed(user_id), *counters], args, features, ps, pe


def _run_blocks(blocks: dict[int, tuple]) -> dict[int, list]:
    """Each user's reply: one script call for every user on one Redis, one per user on a cluster."""
    store = get_store()
    if current_app.config["SETTINGS"].usage_redis_cluster:
        return {uid: store.use_batch(keys=b[0], args=b[1])[0] for uid, b in blocks.items()}
    replies = store.use_batch(keys=[k for b in blocks.values() for k in b[0]],
                              args=[x for b in blocks.values() for x in b[1]])
    return dict(zip(blocks, replies))


def _counted(user_id: int, uses: list[tuple[str, int]], block: tuple, reply: list) -> list[ApiError | None]:
    """Per use, None (counted, or billed with a sealed period) or the error `use_feature` raises for it."""
    _, _, features, ps, pe = block
    n = len(features)
    limits = dict(zip(features, reply[1:1 + n]))
    marks = dict(zip(features, reply[1 + n:1 + 2 * n]))
    outcomes = reply[1 + 2 * n:]
    answers: list[ApiError | None] = []
    for (feature, delta), code, used in zip(uses, outcomes[0::2], outcomes[1::2]):
        if code == "ok":
            if marks[feature]:
                thresholds.check_crossed(user_id, feature, ps, pe, int(used), delta, marks[feature])
            answers.append(None)
        elif code == "sealed":
            answers.append(None)
        elif code == "over":
            answers.append(_over(feature, int(used), int(limits[feature]), pe, delta))
        else:
            answers.append(_unknown_feature(feature))
    return answers


def use_batch(uses: dict[int, list[tuple[str, int]]]) -> dict[int, list[ApiError | None]]:
    """Count many users' reported events (feature, delta) in order, as the `use` script would count them.

    Per user and use: None if counted (or its period is sealed: usage_events bills it with that
    period), else the ApiError `use_feature` would have raised. The repairs (entitlement not cached,
    a new period, a counter missing) are use_feature's, for every user of the batch at once, and only
    the users that needed one are sent again.
    """
    pending, answers = dict(uses), {}
    for _ in range(MAX_ATTEMPTS):
        if not pending:
            break
        blocks = {uid: _block(uid, items) for uid, items in pending.items()}
        for uid, reply in _run_blocks(blocks).items():
            outcome = reply[0]
            if outcome == "ok":
                answers[uid] = _counted(uid, pending.pop(uid), blocks[uid], reply)
            elif outcome == "forbidden":
                answers[uid] = [_not_entitled(reply[1])] * len(pending.pop(uid))
            elif outcome == "noent":
                entitlements.refresh(uid)
            elif outcome == "stale":
                _remember(uid, int(reply[1]), int(reply[2]))
            elif outcome == "missing":
                ledger.rehydrate(uid, list(reply[1:]), blocks[uid][3], blocks[uid][4])
    for uid, items in pending.items():  # as use_feature: the entitlement changed on every attempt
        answers[uid] = [_changing()] * len(items)
    return answers


def remember_period(ent: Entitlement) -> None:
    """A caller that holds the user's cached entitlement saves the script a "stale" round."""
    if ent.entitled:
        _remember(ent.user_id, ent.period_start, ent.period_end)


def _replay(feature: str, stored: str, fingerprint: str, ps: int, pe: int) -> dict:
    stored_fingerprint, used, limit = stored.rsplit("|", 2)
    if stored_fingerprint != fingerprint:
        raise ApiError(422, "Idempotency-Key was already used with a different feature or delta")
    return {**_view(feature, int(used), int(limit), ps, pe), "replayed": True}


def _entitled(user_id: int) -> Entitlement:
    ent = entitlements.cached_entitlement(user_id)
    if not ent.entitled:
        raise _not_entitled(ent.reason)
    return ent


def _current_values(ent: Entitlement, features: list[str]) -> dict[str, int]:
    """Each feature's usage so far: its `use` counter plus its event counter (one MGET, one slot)."""
    client = get_store().client
    counter_keys = [k for f in features for k in (keys.counter(ent.user_id, f, ent.period_start),
                                                   keys.event_counter(ent.user_id, f, ent.period_start))]
    replies = client.mget(counter_keys) if features else []
    pairs = dict(zip(features, zip(replies[0::2], replies[1::2])))
    missing = [f for f, (own, events) in pairs.items() if own is None or events is None]
    values = {f: int(own) + int(events) for f, (own, events) in pairs.items() if f not in missing}
    if missing:
        restored = ledger.rehydrate(ent.user_id, missing, ent.period_start, ent.period_end)
        values.update({f: restored.get(f, 0) for f in missing})
    return values


def current_usage(user_id: int) -> dict:
    ent = _entitled(user_id)
    features = sorted(ent.limits)
    values = _current_values(ent, features)
    return {"period_start": ledger.as_datetime(ent.period_start), "period_end": ledger.as_datetime(ent.period_end),
            "features": [_view(f, values[f], ent.limits[f], ent.period_start, ent.period_end) for f in features]}


def feature_usage(user_id: int, feature: str) -> dict:
    ent = _entitled(user_id)
    if feature not in ent.limits:
        raise _unknown_feature(feature)
    used = _current_values(ent, [feature])[feature]
    return _view(feature, used, ent.limits[feature], ent.period_start, ent.period_end)


def reset(admin: User, user_id: int, feature: str | None = None) -> dict:
    """Zero the current period's counters in PostgreSQL and Redis (never FLUSHDB)."""
    if db.session.get(User, user_id) is None:
        raise ApiError(404, "User not found")
    ent = entitlements.load_entitlement(user_id)
    if not ent.entitled:
        raise ApiError(409, "User has no entitled subscription, so no current period to reset")
    if feature is not None and feature not in ent.limits:
        raise ApiError(404, f"Feature '{feature}' is not part of the user's plan")
    features = [feature] if feature else sorted(ent.limits)
    ledger.lock_users([user_id])  # waits for a running sync of this user, and holds it off
    client = get_store().client
    previous_redis = dict(zip(features, client.mget([keys.counter(user_id, f, ent.period_start)
                                                     for f in features])))
    previous = ledger.stored_used(user_id, features, ent.period_start)
    previous.update({f: int(v) for f, v in previous_redis.items() if v is not None})
    events = ledger.event_totals(user_id, ent.period_start, features)
    previous = {f: previous.get(f, 0) + events.get(f, 0) for f in features}
    ledger.write_zero(user_id, features, ent.period_start, ent.period_end)
    ledger.reset_events(user_id, features, ent.period_start)
    ttl = ledger.counter_ttl(ent.period_end)
    pipe = client.pipeline(transaction=False)
    for f in features:
        pipe.set(keys.counter(user_id, f, ent.period_start), 0, ex=ttl)
        pipe.set(keys.event_counter(user_id, f, ent.period_start), 0, ex=ttl)
    pipe.execute()
    db.session.commit()
    log.warning("usage reset by admin %s: user %s features %s period %s (was %s)", admin.id, user_id,
                features, ent.period_start, previous)
    return {"user_id": user_id, "period_start": ledger.as_datetime(ent.period_start),
            "period_end": ledger.as_datetime(ent.period_end),
            "reset": [{"feature": f, "previous_used": previous.get(f, 0)} for f in features]}


def stats(user_id: int) -> dict:
    ent = entitlements.cached_entitlement(user_id)
    current = None
    if ent.entitled:
        values = _current_values(ent, sorted(ent.limits))
        current = {"period_start": ledger.as_datetime(ent.period_start),
                   "period_end": ledger.as_datetime(ent.period_end),
                   "features": [_stat(f, values[f], ent.limits[f]) for f in sorted(ent.limits)]}
    query = select(UsageCounter).where(UsageCounter.user_id == user_id)
    if ent.entitled:
        query = query.where(UsageCounter.period_start < ledger.as_datetime(ent.period_start))
    rows = [(r.period_start, r.period_end, r.feature, r.used) for r in db.session.scalars(query)]
    events = select(UsageEvent.period_start, UsageEvent.feature, func.sum(UsageEvent.quantity)).where(
        UsageEvent.user_id == user_id, UsageEvent.state.in_(BILLED_EVENT_STATES))
    if ent.entitled:
        events = events.where(UsageEvent.period_start < ledger.as_datetime(ent.period_start))
    # A period with reported events only has no ledger row: its end is not known here.
    rows += [(start, None, feature, int(n)) for start, feature, n in
             db.session.execute(events.group_by(UsageEvent.period_start, UsageEvent.feature))]
    periods: dict = {}
    totals: dict[str, int] = {}
    for start, end, feature, used in sorted(rows, key=lambda r: (-r[0].timestamp(), r[2])):
        totals[feature] = totals.get(feature, 0) + used
        period = periods.setdefault(start, {"period_start": start, "period_end": end, "features": {}})
        period["period_end"] = period["period_end"] or end
        period["features"][feature] = period["features"].get(feature, 0) + used
    history = list(periods.values())
    return {"current_period": current, "past_totals": totals, "past_period_count": len(history),
            "past_periods": history[:HISTORY_PERIODS]}


def _stat(feature: str, used: int, limit: int) -> dict:
    unlimited = limit == UNLIMITED
    return {"feature": feature, "used": used, "limit": None if unlimited else limit,
            "percent": None if unlimited or limit == 0 else round(100.0 * used / limit, 1)}

