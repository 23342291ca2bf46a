"""Which limits apply to a user and for which billing period.

`load_entitlement` is the one function that reads the subscription tables (owned by the
subscription lifecycle): the user's live subscription in an entitled status, its plan's
feature_limits and its current period. `cached_entitlement` puts the answer in Redis under
the user's hash tag, where the use script reads it in the same call as the counter.

Invalidation: a SQLAlchemy `after_commit` hook drops the cache for every user whose
Subscription row was added, changed or deleted through the ORM in that transaction, and for
every subscriber of a plan whose limits an operator edited (invalidate_after_commit); a
short TTL (USAGE_ENTITLEMENT_TTL_SECONDS) covers bulk UPDATE statements.
A generation counter stops a reader that loaded before an invalidation from caching
its stale answer afterwards.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core import clock
from core.extensions import db
from subscription_app.models import Plan, Subscription
from subscription_app.usage import keys, plan_pricing, thresholds
from subscription_app.usage.store import get_store

log = logging.getLogger(__name__)

# past_due keeps access while dunning retries; incomplete (never paid) and paused are never entitled.
ENTITLED_STATUSES = ("active", "trialing", "past_due")
UNENTITLED_LIVE = ("incomplete", "paused")
UNLIMITED = -1
GENERATION_TTL_SECONDS = 7 * 86400
NO_SUBSCRIPTION = "No active subscription: subscribe to a plan to use features"
INCOMPLETE = "Subscription is incomplete: pay its first invoice to use features"
PAUSED = "Subscription is paused: resume it (POST /v1/subscriptions/{id}/resume) to use features"


@dataclass(frozen=True)
class Entitlement:
    user_id: int
    entitled: bool
    reason: str = ""
    period_start: int = 0  # epoch seconds
    period_end: int = 0
    limits: dict[str, int] = field(default_factory=dict)  # UNLIMITED = no cap
    alerts: dict[str, str] = field(default_factory=dict)  # feature -> "percent:quantity,..." (thresholds.py)

    def to_hash(self) -> dict[str, str]:
        data = {"e": "1" if self.entitled else "0", "why": self.reason,
                "ps": str(self.period_start), "pe": str(self.period_end)}
        data.update({f"f:{name}": str(limit) for name, limit in self.limits.items()})
        data.update({f"t:{name}": marks for name, marks in self.alerts.items()})
        return data

    @classmethod
    def from_hash(cls, user_id: int, data: dict[str, str]) -> "Entitlement":
        limits = {k[2:]: int(v) for k, v in data.items() if k.startswith("f:")}
        alerts = {k[2:]: v for k, v in data.items() if k.startswith("t:")}
        return cls(user_id, data.get("e") == "1", data.get("why", ""), int(data.get("ps") or 0),
                   int(data.get("pe") or 0), limits, alerts)


def _limit(value) -> int:
    # A null or negative limit in a plan means "no cap", and so does a flag that is on; else a whole number.
    if value is None or value is True or (isinstance(value, (int, float)) and value < 0):
        return UNLIMITED
    return int(value)


def load_entitlement(user_id: int) -> Entitlement:
    """Read the user's entitlement from PostgreSQL (the only place that reads subscriptions)."""
    row = db.session.execute(
        select(Subscription.status, Subscription.current_period_start, Subscription.current_period_end,
               Plan.id.label("plan_id"), Plan.feature_limits)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.user_id == user_id, Subscription.status.in_(ENTITLED_STATUSES + UNENTITLED_LIVE))
        .order_by(Subscription.created_at.desc()).limit(1)
    ).first()
    if row is None:
        return Entitlement(user_id, False, NO_SUBSCRIPTION)
    if row.status not in ENTITLED_STATUSES:
        return Entitlement(user_id, False, PAUSED if row.status == "paused" else INCOMPLETE)
    limits = {str(name): _limit(value) for name, value in (row.feature_limits or {}).items() if value is not False}
    pricing = plan_pricing.of(row.plan_id)
    alerts = thresholds.marks(limits, pricing)
    # A soft limit is billed as overage at period end, not refused: the script sees no cap.
    limits.update({name: UNLIMITED for name, spec in pricing.items()
                   if name in limits and spec["limit_mode"] != "hard"})
    return Entitlement(user_id, True, "", int(row.current_period_start.timestamp()),
                       int(row.current_period_end.timestamp()), limits, alerts)


def current_periods(user_ids) -> dict[int, datetime]:
    """Each entitled user's current period start in PostgreSQL, in whole seconds (as counters and the ledger)."""
    rows = db.session.execute(select(Subscription.user_id, Subscription.current_period_start).where(
        Subscription.user_id.in_(list(user_ids)), Subscription.status.in_(ENTITLED_STATUSES)))
    return {uid: datetime.fromtimestamp(int(start.timestamp()), tz=timezone.utc) for uid, start in rows}


def refresh(user_id: int) -> Entitlement:
    """Load from PostgreSQL and cache in Redis, unless an invalidation raced the read."""
    store = get_store()
    generation = store.client.get(keys.entitlement_generation(user_id)) or "0"
    ent = load_entitlement(user_id)
    db.session.rollback()  # release the read transaction: the hot path holds no connection
    ttl = current_app.config["SETTINGS"].usage_entitlement_ttl_seconds
    now = clock.utcnow().timestamp()
    if ent.entitled and ent.period_end > now:
        # Re-read at period end even if no commit told us about the renewal.
        ttl = max(1, min(ttl, int(ent.period_end - now) + 1))
    flat = [item for pair in ent.to_hash().items() for item in pair]
    store.store_entitlement(keys=[keys.entitlement(user_id), keys.entitlement_generation(user_id)],
                            args=[generation, ttl, *flat])
    return ent


def cached_entitlement(user_id: int) -> Entitlement:
    data = get_store().client.hgetall(keys.entitlement(user_id))
    if data:
        return Entitlement.from_hash(user_id, data)
    return refresh(user_id)


def cached_entitlements(user_ids, features) -> dict[int, Entitlement]:
    """Many users' cached entitlements, limits of these features only: one pipelined read, a refresh if not cached.

    HMGET of the fields a batch checks, not HGETALL: each user's whole hash read and parsed was most
    of this read's 0.9 ms for 64 users.
    """
    ids, wanted = sorted(set(user_ids)), sorted(set(features))
    fields = ["e", "why", "ps", "pe", *(f"f:{name}" for name in wanted)]
    pipe = get_store().client.pipeline(transaction=False)
    for user_id in ids:
        pipe.hmget(keys.entitlement(user_id), fields)
    found = {}
    for user_id, values in zip(ids, pipe.execute() if ids else []):
        if values[0] is None:  # every cached hash has "e"
            found[user_id] = refresh(user_id)
            continue
        limits = {name: int(v) for name, v in zip(wanted, values[4:]) if v is not None}
        found[user_id] = Entitlement(user_id, values[0] == "1", values[1] or "", int(values[2] or 0),
                                     int(values[3] or 0), limits)
    return found


def invalidate(user_id: int) -> None:
    """Drop the cached entitlement (the subscription lifecycle may call this directly)."""
    get_store().invalidate(keys=[keys.entitlement(user_id), keys.entitlement_generation(user_id)],
                           args=[GENERATION_TTL_SECONDS])


_INFO_KEY = "usage_entitlement_users"


def invalidate_after_commit(user_ids) -> None:
    """Drop these users' cached entitlements once the current transaction commits (a plan's limits changed)."""
    db.session().info.setdefault(_INFO_KEY, set()).update(user_ids)


def _collect(session: Session, flush_context) -> None:
    changed = [o for o in (*session.new, *session.dirty, *session.deleted) if isinstance(o, Subscription)]
    if changed:
        session.info.setdefault(_INFO_KEY, set()).update(o.user_id for o in changed if o.user_id is not None)


def _after_commit(session: Session) -> None:
    users = session.info.pop(_INFO_KEY, None)
    if not users or not has_app_context() or "usage_store" not in current_app.extensions:
        return
    for user_id in users:
        try:
            invalidate(user_id)
        except Exception:  # noqa: BLE001 - the commit happened; the TTL is the safety net
            log.warning("could not invalidate usage entitlement of user %s", user_id, exc_info=True)


def _after_rollback(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)


_registered = False


def register_listeners() -> None:
    global _registered
    if _registered:
        return
    event.listen(Session, "after_flush", _collect)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", lambda session, previous: _after_rollback(session))
    _registered = True
