"""PostgreSQL as the ledger: sync of changed counters, rehydration, dirty tracking.

Dirty tracking (works on a single Redis and on Redis Cluster):
- The use script adds "<feature>:<ps>:<pe>" to the user's own dirty set (same slot as the
  counter, so in the same atomic call) and says when that set went from empty to not empty.
- Only then the caller "announces" the user in a global index: a sorted set sharded 16 ways
  (`usage:dirty:{sN}`, spread over the cluster) scored with the time of the first unsynced
  change. One extra command per user per sync interval, not per request.
- The sync walks the index (cost ~ users changed since the last sync), reads the counters,
  UPSERTs with GREATEST, commits, then acknowledges: a member leaves the dirty set only if
  its counter did not move meanwhile, and the user leaves the index only if nobody
  re-announced it (score unchanged).
- A process dying between the script and the announce leaves a dirty set nobody indexed;
  `sweep_unindexed` (every few minutes) SCANs every node for dirty sets and indexes them.

A per-user PostgreSQL advisory lock orders the sync against an admin reset, so a sync that
read a counter before the reset cannot write the old value back after it.
"""
from __future__ import annotations

import functools
import logging
import time
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from core import clock, metrics
from core.extensions import db
from subscription_app.models import User
from subscription_app.usage import keys
from subscription_app.usage.models import (BILLED_EVENT_STATES, EVENT_COUNTED, EVENT_RESET, UsageCounter,
                                            UsageEvent)
from subscription_app.usage.store import get_store

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x75736167  # "usag": the first key of pg_advisory_xact_lock(int, int)
EVENTS_LOCK_NAMESPACE = 0x75657674  # "uevt"
BATCH_USERS = 500
MAX_USERS_PER_SHARD_RUN = 5000


@functools.lru_cache(maxsize=4096)  # period bounds repeat on every request of a period
def as_datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc)


def lock_users(user_ids, namespace: int = LOCK_NAMESPACE, shared: bool = False) -> None:
    """Per-user advisory locks for this transaction, taken in id order (no deadlocks)."""
    ids = sorted({int(u) for u in user_ids})
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    if ids:
        db.session.execute(text(
            f"SELECT {function}(:ns, (u % 2147483647)::int) FROM unnest(CAST(:ids AS bigint[])) AS u"
        ), {"ns": namespace, "ids": ids})


def lock_events(user_ids, shared: bool) -> None:
    """Orders event inserts (shared) against a period close (exclusive): a close sees every event of its period."""
    lock_users(user_ids, EVENTS_LOCK_NAMESPACE, shared)


def stored_used(user_id: int, features, period_start: int) -> dict[str, int]:
    rows = db.session.execute(select(UsageCounter.feature, UsageCounter.used).where(
        UsageCounter.user_id == user_id, UsageCounter.feature.in_(list(features)),
        UsageCounter.period_start == as_datetime(period_start))).all()
    return {r.feature: int(r.used) for r in rows}


def counter_ttl(period_end: int) -> int:
    """Seconds a counter lives: until some days after its period ends on the billing clock.

    A TTL, not an absolute EXPIREAT: Redis's own clock may differ from the billing clock
    (host skew, or the movable dev/test clock), and only ours knows when the period ends.
    """
    grace = current_app.config["SETTINGS"].usage_counter_grace_days * 86400
    return int(max(period_end - clock.utcnow().timestamp(), 0)) + grace


def event_totals(user_id: int, period_start: int, features=None, states=BILLED_EVENT_STATES) -> dict[str, int]:
    """Units of the period's reported events per feature, in these states (default: those billed)."""
    query = select(UsageEvent.feature, func.sum(UsageEvent.quantity)).where(
        UsageEvent.user_id == user_id, UsageEvent.period_start == as_datetime(period_start),
        UsageEvent.state.in_(states))
    if features is not None:
        query = query.where(UsageEvent.feature.in_(list(features)))
    return {feature: int(total) for feature, total in db.session.execute(query.group_by(UsageEvent.feature))}


def rehydrate(user_id: int, features, period_start: int, period_end: int) -> dict[str, int]:
    """Recreate missing counters from PostgreSQL (SET NX: a concurrent writer wins); the usage per feature.

    The `use` counter from the ledger (what the last sync saw), the event counter from the events
    already counted: one still pending is counted by its own request, so it is not added twice.
    """
    own = stored_used(user_id, features, period_start)
    events = event_totals(user_id, period_start, features, states=(EVENT_COUNTED,))
    db.session.rollback()
    client = get_store().client
    ttl = counter_ttl(period_end)
    pipe = client.pipeline(transaction=False)
    for feature in features:
        pipe.set(keys.counter(user_id, feature, period_start), own.get(feature, 0), nx=True, ex=ttl)
        pipe.set(keys.event_counter(user_id, feature, period_start), events.get(feature, 0), nx=True, ex=ttl)
    pipe.execute()
    return {f: own.get(f, 0) + events.get(f, 0) for f in features}


def write_zero(user_id: int, features, period_start: int, period_end: int) -> None:
    """Admin reset in the ledger: the one write that moves a counter backwards."""
    stmt = insert(UsageCounter).values([
        {"user_id": user_id, "feature": f, "period_start": as_datetime(period_start),
         "period_end": as_datetime(period_end), "used": 0} for f in features])
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[UsageCounter.user_id, UsageCounter.feature, UsageCounter.period_start],
        set_={"used": 0, "updated_at": func.now()}))


def reset_events(user_id: int, features, period_start: int) -> None:
    """Admin reset: the period's reported events so far are no longer billed (their dedupe stays)."""
    db.session.execute(update(UsageEvent).where(
        UsageEvent.user_id == user_id, UsageEvent.feature.in_(list(features)),
        UsageEvent.period_start == as_datetime(period_start), UsageEvent.state.in_(BILLED_EVENT_STATES))
        .values(state=EVENT_RESET))


def announce(user_id: int) -> None:
    get_store().client.zadd(keys.index_shard(user_id), {str(user_id): time.time_ns() // 1000})


def _read_dirty(client, user_ids: list[int]) -> dict[int, list[tuple[str, str | None]]]:
    pipe = client.pipeline(transaction=False)
    for uid in user_ids:
        pipe.smembers(keys.dirty(uid))
    members = {uid: sorted(m) for uid, m in zip(user_ids, pipe.execute())}
    pipe = client.pipeline(transaction=False)
    order = []
    for uid, items in members.items():
        for member in items:
            feature, ps, _ = keys.parse_dirty_member(member)
            pipe.get(keys.counter(uid, feature, ps))
            order.append((uid, member))
    values = pipe.execute() if order else []
    result: dict[int, list[tuple[str, str | None]]] = {uid: [] for uid in user_ids}
    for (uid, member), value in zip(order, values):
        result[uid].append((member, value))
    return result


def upsert_counters(rows: list[dict]) -> None:
    """Write counters to the ledger, only ever forward."""
    if not rows:
        return
    stmt = insert(UsageCounter).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[UsageCounter.user_id, UsageCounter.feature, UsageCounter.period_start],
        set_={"used": func.greatest(UsageCounter.used, stmt.excluded.used), "updated_at": func.now()},
        where=UsageCounter.used < stmt.excluded.used,  # only forward, and no rewrite when equal
    )
    db.session.execute(stmt)


def _sync_batch(entries: list[tuple[int, float]], shard_key: str) -> tuple[int, int]:
    store = get_store()
    user_ids = sorted(uid for uid, _ in entries)
    lock_users(user_ids)
    dirty = _read_dirty(store.client, user_ids)
    # A deleted user's counters are acknowledged but not written (the foreign key would fail the batch).
    existing = set(db.session.scalars(select(User.id).where(User.id.in_(user_ids))))
    rows: dict[tuple[int, str, int], dict] = {}
    for uid, items in dirty.items():
        for member, value in items:
            if value is None or uid not in existing:
                continue  # the counter is gone (flush): nothing newer than the ledger to write
            feature, ps, pe = keys.parse_dirty_member(member)
            # Two members differ only in period end if the period was extended: one row, latest end.
            row = rows.setdefault((uid, feature, ps), {"user_id": uid, "feature": feature, "used": int(value),
                                                      "period_start": as_datetime(ps), "period_end": as_datetime(pe)})
            row["period_end"] = max(row["period_end"], as_datetime(pe))
    upsert_counters(list(rows.values()))
    db.session.commit()
    for uid, score in entries:
        items = dirty[uid]
        remaining = 0
        if items:
            counter_keys = [keys.counter(uid, *keys.parse_dirty_member(m)[:2]) for m, _ in items]
            args = [x for m, v in items for x in (m, "" if v is None else v)]
            remaining = store.ack(keys=[keys.dirty(uid), *counter_keys], args=args)
        if remaining == 0:
            store.unindex(keys=[shard_key], args=[uid, int(score)])
    return len(user_ids), len(rows)


def sync_dirty() -> dict:
    """Write every counter changed since the last sync to PostgreSQL. Safe to run twice."""
    store = get_store()
    started = time.time()
    users = rows = 0
    for shard_key in keys.all_index_shards():
        entries = store.client.zrange(shard_key, 0, MAX_USERS_PER_SHARD_RUN - 1, withscores=True)
        parsed = [(int(member), score) for member, score in entries]
        for i in range(0, len(parsed), BATCH_USERS):
            try:
                u, r = _sync_batch(parsed[i:i + BATCH_USERS], shard_key)
            except Exception:
                db.session.rollback()
                raise
            users += u
            rows += r
    store.client.set(keys.SYNC_LAST_KEY, started)
    result = {"users": users, "rows": rows, "seconds": round(time.time() - started, 3)}
    if users:
        log.info("usage sync: %(users)s users, %(rows)s counters in %(seconds)ss", result)
    return result


def sweep_unindexed() -> int:
    """Index dirty sets a crashed process never announced (SCAN: cost ~ keyspace, run rarely)."""
    client = get_store().client
    found = 0
    for key in client.scan_iter(match="usage:{*}:dirty", count=1000):
        user_id = int(key[len("usage:{"):key.index("}")])
        found += client.zadd(keys.index_shard(user_id), {str(user_id): time.time_ns() // 1000}, nx=True)
    if found:
        log.warning("usage sweep indexed %s dirty users nobody announced", found)
    return found


def sync_status() -> dict:
    """Backlog of the sync for /v1/health/queues: users waiting and age of the oldest change."""
    client = get_store().client
    pipe = client.pipeline(transaction=False)
    for shard_key in keys.all_index_shards():
        pipe.zcard(shard_key)
        pipe.zrange(shard_key, 0, 0, withscores=True)
    pipe.get(keys.SYNC_LAST_KEY)
    replies = pipe.execute()
    last = replies.pop()
    counts, oldest = replies[0::2], [r[0][1] for r in replies[1::2] if r]
    now = time.time()
    return {
        "dirty_users": int(sum(counts)),
        "oldest_unsynced_change_seconds": round(now - min(oldest) / 1e6, 1) if oldest else 0.0,
        "last_sync_at": datetime.fromtimestamp(float(last), timezone.utc).isoformat() if last else None,
    }


def sync_usage() -> dict:
    """The periodic job: write counters changed since the last run to PostgreSQL; safe to run twice."""
    lag = sync_status()["oldest_unsynced_change_seconds"]
    result = sync_dirty()
    metrics.usage_sync(lag, result["rows"])
    return result


def health_status() -> dict:
    """The sync's own lag for /v1/health/queues, where the usage store lives (nothing on the payment service)."""
    return sync_status() if "usage_store" in current_app.extensions else {}
