/**
 * The Lua scripts, registered once per client with ioredis `defineCommand` (EVALSHA, with a
 * transparent EVAL fallback after a SCRIPT FLUSH or a failover).
 *
 * Session scripts declare only the session's own keys (its slot). On a standalone server
 * they also "cascade": they update the owner's index and stats bucket, whose names are
 * stored in the session hash (`u`, `b`), in the same atomic step. Redis allows keys that a
 * script did not declare outside Cluster; on Cluster the script returns those names and
 * the caller sends the follow-up scripts to their own slots (see `SessionLinks`).
 */
import type { Cluster, Redis, Result } from "ioredis";

/** Shared Lua helpers: the index and the stats buckets are sorted sets scored by expiry. */
const LUA_HELPERS = `
local function expire_at_top(key)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] == nil then return end
  if top[2] == 'inf' then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, top[2]) end
end
-- Expired members are pruned on every write, so an index or bucket never outgrows its
-- live sessions, even in an app that never lists or reads the totals.
local function zput(key, member, score, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. now)
  redis.call('ZADD', key, score, member)
  expire_at_top(key)
end
local function stats_touched(updated, now)
  if updated ~= '' then redis.call('SET', updated, now) end
end
local function stats_drop(bucket, updated, member, now)
  if redis.call('ZREM', bucket, member) == 1 then stats_touched(updated, now) end
end
`;

/**
 * relsSet(session, tombstone; payload, ttlMs, meta, index, bucket, registry, updated, member, score, now, cascade, onlyIfAbsent)
 * → {1 | 0 (tombstoned: refused) | 2 (exists, and onlyIfAbsent), old index, old bucket}
 */
const SET = `${LUA_HELPERS}
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, false, false} end
if ARGV[12] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {2, false, false} end
local old = redis.pcall('HMGET', KEYS[1], 'u', 'b')
if old.err then old = {false, false} end
local payload, ttl, meta, index, bucket = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local registry, updated, member, score, now = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local fields = {'d', payload}
if meta ~= '' then
  for _, v in ipairs({'m', meta, 'u', index, 'b', bucket}) do table.insert(fields, v) end
end
-- 'e': the expiry Redis was given, read back with the payload so touch can be throttled.
if ttl > 0 then
  table.insert(fields, 'e')
  table.insert(fields, score)
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
if ARGV[11] == '1' then
  if old[1] and old[1] ~= index then redis.call('ZREM', old[1], member) end
  if old[2] and old[2] ~= bucket then stats_drop(old[2], updated, member, now) end
  if meta ~= '' then
    zput(index, member, score, now)
    zput(bucket, member, score, now)
    redis.call('SADD', registry, bucket)
    stats_touched(updated, now)
  end
end
return {1, old[1] or false, old[2] or false}
`;

/**
 * relsTouch(session; ttlMs, member, score, cascade, registry, now) → {0 | 1, index, bucket}
 * Never recreates a missing session. The session exists, so its index entry and stats
 * count are (re)written, not just updated: a write lost between slots heals here.
 */
const TOUCH = `${LUA_HELPERS}
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return {0, false, false} end
local link = redis.pcall('HMGET', KEYS[1], 'u', 'b')
if link.err then return {1, false, false} end
redis.call('HSET', KEYS[1], 'e', ARGV[3])
if ARGV[4] == '1' then
  if link[1] then zput(link[1], ARGV[2], ARGV[3], ARGV[6]) end
  if link[2] then
    zput(link[2], ARGV[2], ARGV[3], ARGV[6])
    redis.call('SADD', ARGV[5], link[2])
  end
end
return {1, link[1] or false, link[2] or false}
`;

/**
 * relsDestroy(session, tombstone; tombstoneMs, member, now, updated, cascade, owner, tombstoneToExpiry) → {existed, index, bucket}
 * With \`owner\` (an index key), only a session owned by that index is destroyed: a stale
 * index entry can never revoke another user's session.
 */
const DESTROY = `${LUA_HELPERS}
local link = redis.pcall('HMGET', KEYS[1], 'u', 'b')
if link.err then link = {false, false} end
if ARGV[6] ~= '' and link[1] ~= ARGV[6] then return {0, false, false} end
local tombstone = tonumber(ARGV[1])
-- While plain-sid copies may exist (migration), the tombstone outlives the session's own TTL.
if tombstone > 0 and ARGV[7] == '1' then
  local left = redis.call('PTTL', KEYS[1])
  if left > tombstone then tombstone = left end
end
local existed = redis.call('DEL', KEYS[1])
if tombstone > 0 then redis.call('SET', KEYS[2], '1', 'PX', tombstone) end
if ARGV[5] == '1' then
  if link[1] then redis.call('ZREM', link[1], ARGV[2]) end
  if link[2] then stats_drop(link[2], ARGV[4], ARGV[2], ARGV[3]) end
end
return {existed, link[1] or false, link[2] or false}
`;

/**
 * relsIndexLink(index; op, member, score, now) — the follow-up on Cluster. op: put | drop
 */
const INDEX_LINK = `${LUA_HELPERS}
if ARGV[1] == 'drop' then return redis.call('ZREM', KEYS[1], ARGV[2]) end
zput(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
return 1
`;

/**
 * relsStatsLink(bucket, registry, updated; op, member, score, now) — the follow-up on Cluster.
 * op: put | touch (updates an existing member only) | drop
 */
const STATS_LINK = `${LUA_HELPERS}
if ARGV[1] == 'drop' then stats_drop(KEYS[1], KEYS[3], ARGV[2], ARGV[4]) return 1 end
if ARGV[1] == 'touch' then
  -- Update only: on Cluster a touch can land after a racing destroy's drop.
  if redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[2]) == 0 then expire_at_top(KEYS[1]) end
  return 1
end
zput(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
redis.call('SADD', KEYS[2], KEYS[1])
stats_touched(KEYS[3], ARGV[4])
return 1
`;

/**
 * relsIndexRange(index; now) → flat {member, score, …}, expired entries pruned first.
 */
const INDEX_RANGE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
`;

/**
 * relsStatsTotals(registry, updated; now) → {updated, bucket, count, bucket, count, …}
 * Prunes expired members, so sessions that ended by TTL drop out without a scan.
 */
const STATS_TOTALS = `
local out = {redis.call('GET', KEYS[2]) or false}
for _, bucket in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('ZREMRANGEBYSCORE', bucket, '-inf', '(' .. ARGV[1])
  local n = redis.call('ZCARD', bucket)
  if n == 0 then redis.call('SREM', KEYS[1], bucket) else
    table.insert(out, bucket)
    table.insert(out, n)
  end
end
return out
`;

export const SCRIPTS = {
  relsSet: { lua: SET, numberOfKeys: 2 },
  relsTouch: { lua: TOUCH, numberOfKeys: 1 },
  relsDestroy: { lua: DESTROY, numberOfKeys: 2 },
  relsIndexLink: { lua: INDEX_LINK, numberOfKeys: 1 },
  relsStatsLink: { lua: STATS_LINK, numberOfKeys: 3 },
  relsIndexRange: { lua: INDEX_RANGE, numberOfKeys: 1 },
  relsStatsTotals: { lua: STATS_TOTALS, numberOfKeys: 2 },
} as const;

export function defineScripts(client: Redis | Cluster): void {
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
}

type Arg = string | number | Buffer;
type Flag = null | string;

declare module "ioredis" {
  interface RedisCommander<Context> {
    relsSet(session: string, tombstone: string, ...args: Arg[]): Result<[0 | 1 | 2, Flag, Flag], Context>;
    relsTouch(session: string, ...args: Arg[]): Result<[0 | 1, Flag, Flag], Context>;
    relsDestroy(session: string, tombstone: string, ...args: Arg[]): Result<[0 | 1, Flag, Flag], Context>;
    relsIndexLink(index: string, ...args: Arg[]): Result<number, Context>;
    relsStatsLink(bucket: string, registry: string, updated: string, ...args: Arg[]): Result<number, Context>;
    relsIndexRange(index: string, now: number): Result<string[], Context>;
    relsStatsTotals(registry: string, updated: string, now: number): Result<Array<string | number | null>, Context>;
  }
}
