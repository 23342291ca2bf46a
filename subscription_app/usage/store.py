"""The usage Redis (its own URL or a Redis Cluster) and the Lua scripts that run on it.

Scripts are registered with redis-py's register_script: calls go out as EVALSHA and fall
back to loading the script on NOSCRIPT, so a SCRIPT FLUSH or a restarted Redis is
survived. Every script only touches keys of one user (one hash slot), all declared in
KEYS, so it runs unchanged on Redis Cluster.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app
from redis.cluster import RedisCluster
from redis.commands.core import Script

# KEYS: ent, use counter, user dirty set, idempotency record, seal, event counter
# ARGV: feature, expected period start, expected period end, delta, use idempotency (0/1),
#       request fingerprint, idempotency ttl, dirty member
# The expected period comes from a per-process hint; the cached entitlement is the
# authority, so a stale hint only costs a retry ("stale"), never a wrong key.
# The seal (SEAL_SCRIPT) refuses a period whose final read was taken ("sealed"): the caller waits
# for the closing transaction and counts in the next period (arrears.await_close).
# Usage is the sum of two counters: `use` calls (synced to the ledger through the dirty set, the
# only one this script increments) and reported events (USE_BATCH_SCRIPT; rebuilt from usage_events,
# which bill them: no dirty mark).
# The counters are only ever created by rehydration or reset, both with their expiry (some
# days after period end), so the hot path never sets a TTL.
USE_SCRIPT = """
local ent = redis.call('HMGET', KEYS[1], 'e', 'ps', 'pe', 'f:' .. ARGV[1], 'why', 't:' .. ARGV[1])
if not ent[1] then return {'noent'} end
if ent[1] ~= '1' then return {'forbidden', ent[5] or ''} end
if ent[2] ~= ARGV[2] or ent[3] ~= ARGV[3] then return {'stale', ent[2], ent[3]} end
if not ent[4] then return {'nofeature'} end
if ARGV[5] == '1' then
  local prev = redis.call('GET', KEYS[4])
  if prev then return {'replay', prev} end
end
local sealed = redis.call('GET', KEYS[5])
if sealed and tonumber(sealed) >= tonumber(ARGV[2]) then return {'sealed'} end
local own = redis.call('GET', KEYS[2])
local events = redis.call('GET', KEYS[6])
if not own or not events then return {'missing'} end
local used = tonumber(own) + tonumber(events)
local limit = tonumber(ent[4])
local delta = tonumber(ARGV[4])
if limit >= 0 and used + delta > limit then return {'over', used, limit, ent[3]} end
used = used + delta
local newly_dirty = 0
redis.call('INCRBY', KEYS[2], delta)
if redis.call('SADD', KEYS[3], ARGV[8]) == 1 and redis.call('SCARD', KEYS[3]) == 1 then
  newly_dirty = 1
end
if ARGV[5] == '1' then
  redis.call('SET', KEYS[4], ARGV[6] .. '|' .. used .. '|' .. limit, 'EX', ARGV[7])
end
return {'ok', used, limit, ent[3], newly_dirty, ent[6] or ''}
"""

# The use script for a batch of reported events (POST /v1/usage/events): one call counts every
# user's events of the batch on a single Redis, one call per user on a cluster (a block's keys are
# one user's: one slot). Per block, i.e. per user, what E calls of USE_SCRIPT with source 'e' do:
# KEYS: ent, seal, then per feature of the block its use counter and its event counter
# ARGV: expected period start, expected period end, feature count F, event count E, the F features,
#       then per event its feature's number (1..F) and its delta
# One reply per block, in order: {'noent'}, {'forbidden', why}, {'stale', ps, pe}, {'missing', feature...}
# (nothing counted: the caller repairs and calls again), or {'ok', F limits (-2: not in the plan),
# F threshold marks, then per event 'ok' and the new usage, 'over' and the usage it would pass,
# 'nofeature' and 0, or 'sealed' and 0 (the period is being closed: usage_events bills the event
# with it, nothing is counted)}. Each event is checked against the usage its predecessors left, and
# each event counter is then written once; events mark nothing dirty (usage_events is their ledger).
USE_BATCH_SCRIPT = """
local replies = {}
local k, a = 1, 1
while a <= #ARGV do
  local ent_key = KEYS[k]
  local nf, ne = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local features, events = a + 4, a + 4 + nf
  local reply
  local ent = redis.call('HMGET', ent_key, 'e', 'ps', 'pe', 'why')
  if not ent[1] then
    reply = {'noent'}
  elseif ent[1] ~= '1' then
    reply = {'forbidden', ent[4] or ''}
  elseif ent[2] ~= ARGV[a] or ent[3] ~= ARGV[a + 1] then
    reply = {'stale', ent[2], ent[3]}
  else
    local seal = redis.call('GET', KEYS[k + 1])
    local sealed = seal and tonumber(seal) >= tonumber(ARGV[a])
    local limits, marks, used, missing = {}, {}, {}, {}
    for f = 1, nf do
      local name = ARGV[features + f - 1]
      local spec = redis.call('HMGET', ent_key, 'f:' .. name, 't:' .. name)
      limits[f] = tonumber(spec[1]) or -2
      marks[f] = spec[2] or ''
      if spec[1] and not sealed then
        local own = redis.call('GET', KEYS[k + 2 * f])
        local counted = redis.call('GET', KEYS[k + 2 * f + 1])
        if own and counted then used[f] = tonumber(own) + tonumber(counted) else missing[#missing + 1] = name end
      end
    end
    if #missing > 0 then
      reply = {'missing', unpack(missing)}
    else
      local added = {}
      reply = {'ok'}
      for f = 1, nf do reply[#reply + 1] = limits[f] end
      for f = 1, nf do reply[#reply + 1] = marks[f] end
      for i = 0, ne - 1 do
        local f, delta = tonumber(ARGV[events + 2 * i]), tonumber(ARGV[events + 2 * i + 1])
        if limits[f] == -2 then
          reply[#reply + 1] = 'nofeature'
          reply[#reply + 1] = 0
        elseif sealed then
          reply[#reply + 1] = 'sealed'
          reply[#reply + 1] = 0
        elseif limits[f] >= 0 and used[f] + delta > limits[f] then
          reply[#reply + 1] = 'over'
          reply[#reply + 1] = used[f]
        else
          used[f] = used[f] + delta
          added[f] = (added[f] or 0) + delta
          reply[#reply + 1] = 'ok'
          reply[#reply + 1] = used[f]
        end
      end
      for f = 1, nf do
        if added[f] then redis.call('INCRBY', KEYS[k + 2 * f + 1], added[f]) end
      end
    end
  end
  replies[#replies + 1] = reply
  k = k + 2 + 2 * nf
  a = events + 2 * ne
end
return replies
"""

# KEYS: ent, generation. ARGV: generation seen before reading PostgreSQL, ttl, field, value, ...
# Refuses to cache when an invalidation happened meanwhile (the read may be stale).
STORE_ENTITLEMENT_SCRIPT = """
local gen = redis.call('GET', KEYS[2]) or '0'
if gen ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: seal, counter per feature. ARGV: period start, seal ttl.
# The final read of a period being closed, atomic with sealing it: no increment lands on it after.
SEAL_SCRIPT = """
local sealed = redis.call('GET', KEYS[1])
if not sealed or tonumber(sealed) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
local values = {}
for i = 2, #KEYS do values[i - 1] = redis.call('GET', KEYS[i]) or '' end
return values
"""

# KEYS: seal. ARGV: period start. Lifts the seal of a close that was rolled back.
UNSEAL_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: ent, generation. ARGV: generation ttl.
INVALIDATE_SCRIPT = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""

# KEYS: user dirty set, counter key per member. ARGV: member, value read ('' = key missing), ...
# Acknowledge what the sync wrote: a member leaves the dirty set only if its counter did not
# move since it was read. Answers how many members remain.
ACK_SCRIPT = """
for i = 2, #KEYS do
  local member = ARGV[2 * i - 3]
  local seen = ARGV[2 * i - 2]
  local now = redis.call('GET', KEYS[i])
  if (now == false and seen == '') or now == seen then
    redis.call('SREM', KEYS[1], member)
  end
end
return redis.call('SCARD', KEYS[1])
"""

# KEYS: index shard. ARGV: user id, score seen. Removes the user only if nobody re-announced it.
UNINDEX_SCRIPT = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


@dataclass(frozen=True)
class UsageStore:
    client: redis.Redis | RedisCluster
    use: Script
    use_batch: Script
    store_entitlement: Script
    invalidate: Script
    ack: Script
    unindex: Script
    seal: Script
    unseal: Script


def build_client(app: Flask):
    settings = app.config["SETTINGS"]
    options = dict(socket_connect_timeout=2, socket_timeout=5, decode_responses=True)
    if settings.usage_redis_cluster:
        return RedisCluster.from_url(settings.usage_redis, **options)
    return redis.Redis.from_url(settings.usage_redis, health_check_interval=30, **options)


def init_store(app: Flask) -> UsageStore:
    client = build_client(app)
    store = UsageStore(
        client=client,
        use=client.register_script(USE_SCRIPT),
        use_batch=client.register_script(USE_BATCH_SCRIPT),
        store_entitlement=client.register_script(STORE_ENTITLEMENT_SCRIPT),
        invalidate=client.register_script(INVALIDATE_SCRIPT),
        ack=client.register_script(ACK_SCRIPT),
        unindex=client.register_script(UNINDEX_SCRIPT),
        seal=client.register_script(SEAL_SCRIPT),
        unseal=client.register_script(UNSEAL_SCRIPT),
    )
    app.extensions["usage_store"] = store
    return store


def get_store() -> UsageStore:
    return current_app.extensions["usage_store"]
