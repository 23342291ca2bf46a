"""Redis key names of usage metering. Every per-user key carries the `{<user_id>}` hash tag,
so all keys one script touches live in one Redis Cluster slot.

    usage:{42}:api_calls:1764115200   live counter of one feature's `use` calls in one billing period
    usage:{42}:api_calls:1764115200:ev  the same for reported events (rebuilt from usage_events)
    usage:{42}:ent                    cached entitlement (hash: e, ps, pe, why, f:<feature>)
    usage:{42}:entgen                 bumped on invalidation; a stale loader cannot re-cache
    usage:{42}:dirty                  set of "<feature>:<ps>:<pe>" changed since the last sync
    usage:{42}:sealed                 start of the latest period being closed: no increment reaches it
    usage:{42}:idem:<sha256>          result of one Idempotency-Key
    usage:dirty:{s7}                  global index shard: user id -> first unsynced change (µs)
"""
from __future__ import annotations

import hashlib

INDEX_SHARDS = 16
SYNC_LAST_KEY = "usage:sync:last"


def _tag(user_id: int) -> str:
    return f"usage:{{{int(user_id)}}}"


def counter(user_id: int, feature: str, period_start: int) -> str:
    return f"{_tag(user_id)}:{feature}:{int(period_start)}"


def event_counter(user_id: int, feature: str, period_start: int) -> str:
    return f"{counter(user_id, feature, period_start)}:ev"


def entitlement(user_id: int) -> str:
    return f"{_tag(user_id)}:ent"


def entitlement_generation(user_id: int) -> str:
    return f"{_tag(user_id)}:entgen"


def dirty(user_id: int) -> str:
    return f"{_tag(user_id)}:dirty"


def sealed(user_id: int) -> str:
    return f"{_tag(user_id)}:sealed"


def idempotency(user_id: int, key: str | None) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest() if key else "-"
    return f"{_tag(user_id)}:idem:{digest}"


def dirty_member(feature: str, period_start: int, period_end: int) -> str:
    return f"{feature}:{int(period_start)}:{int(period_end)}"


def parse_dirty_member(member: str) -> tuple[str, int, int]:
    feature, start, end = member.rsplit(":", 2)
    return feature, int(start), int(end)


def index_shard(user_id: int) -> str:
    return f"usage:dirty:{{s{int(user_id) % INDEX_SHARDS}}}"


def all_index_shards() -> list[str]:
    return [f"usage:dirty:{{s{n}}}" for n in range(INDEX_SHARDS)]
