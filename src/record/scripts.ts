/**
 * The Lua scripts of the data layer, registered once per client with ioredis `defineCommand`
 * (EVALSHA, with a transparent EVAL fallback after a SCRIPT FLUSH or a failover).
 *
 * Every script starts with a `#!lua` shebang, so Redis 7 checks `maxmemory` before it runs:
 * a write script is refused whole when Redis is out of memory (without the shebang Redis
 * refuses only a script's first memory-growing command, after earlier ones have run).
 * Scripts that only delete say `flags=allow-oom`: freeing memory must work when it is short.
 *
 * Session scripts declare only the session's own key (its slot). On a standalone server they
 * also "cascade": they update the owner's index and the stats bucket named in the record's
 * header in the same atomic step (Redis lets a script reach undeclared keys outside Cluster).
 * On Cluster the script returns those names and `FollowUps` (topology.ts) sends the index and
 * stats changes to their own slots.
 *
 * The record layout they read is described in format.ts: the header's numbers sit at fixed
 * offsets (Lua strings count from 1: expiresAt is bytes 2–17, the score 18–33, the links
 * start at 34).
 */
import type { Cluster, Redis, Result } from "ioredis";

const HELPERS = `
local NEVER = 8640000000000000
local function expire_at_top(key)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] == nil then return end
  local score = tonumber(top[2])
  if score == nil or score >= NEVER then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, score) end
end
-- Expired members are pruned whenever a session is filed, so an index or a bucket never
-- outgrows its live sessions, even in an app that never lists or reads the totals.
local function zput(key, member, score, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. now)
  redis.call('ZADD', key, score, member)
  expire_at_top(key)
end
local function stats_put(bucket, registry, updated, member, score, now)
  zput(bucket, member, score, now)
  redis.call('SADD', registry, bucket)
  redis.call('SET', updated, now)
end
local function stats_drop(bucket, updated, member, now)
  if redis.call('ZREM', bucket, member) == 1 then redis.call('SET', updated, now) end
end
-- {index, bucket, score, plain} of the record at key; false when there is none.
-- Layout 2 (a hash) is answered from its fields; a value of any other shape has no links.
local function links_of(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' and v.err then
    local f = redis.pcall('HMGET', key, 'u', 'b', 'e')
    if f.err then return {'', '', 0, ''} end
    if f[1] == false and f[2] == false and f[3] == false and redis.call('EXISTS', key) == 0 then return false end
    return {f[1] or '', f[2] or '', tonumber(f[3]) or 0, ''}
  end
  if not v then return false end
  if string.sub(v, 1, 1) ~= '3' then return {'', '', 0, ''} end
  local nl = string.find(v, '\\n', 34, true)
  local tab = string.find(v, '\\t', 34, true)
  if not tab or not nl or tab > nl then return {'', '', 0, ''} end
  local bucket_end, plain = nl, ''
  local second = string.find(v, '\\t', tab + 1, true)
  if second and second < nl then
    bucket_end = second
    plain = string.sub(v, second + 1, nl - 1)
  end
  return {string.sub(v, 34, tab - 1), string.sub(v, tab + 1, bucket_end - 1), tonumber(string.sub(v, 18, 33)) or 0, plain}
end
-- Beyond cap entries, drop the ones filed to expire soonest (but keep): each is revoked
-- if this index owns it, and its entry removed either way. Returns the members dropped.
local function trim_to_cap(index, keep, cap, head, updated, now, cascade)
  local dropped = {}
  if cap <= 0 then return dropped end
  local excess = redis.call('ZCARD', index) - cap
  if excess <= 0 then return dropped end
  for _, member in ipairs(redis.call('ZRANGE', index, 0, excess)) do
    if #dropped >= excess then break end
    if member ~= keep then
      redis.call('ZREM', index, member)
      if cascade then
        local key = head .. member .. '}'
        local l = links_of(key)
        if l and l[1] == index then
          redis.call('DEL', key)
          if l[2] ~= '' then stats_drop(l[2], updated, member, now) end
          if l[4] ~= '' then redis.call('DEL', l[4]) end
        end
      end
      table.insert(dropped, member)
    end
  end
  return dropped
end
`;

/**
 * relsWrite(session; value, ttlMs, condition, member, now, cascade, index, bucket, score,
 *           registry, updated, cap, sessionKeyHead, revokedMarker)
 * → {0} refused (condition "xx", no session) | {2} refused (condition "nx", a session)
 *   | {1, oldIndex, oldBucket, {evicted…}}
 *
 * `revokedMarker` (migration only, the session's own slot): refused while it exists — the
 * save of a session read from its plain-sid key after it was revoked.
 *
 * The write of a session whose filing changes: signed in, relinked, signed out, or its
 * expiry past its score. Files it under its owner's index and its bucket, drops it from the
 * old ones, and enforces the per-user cap in the same step (standalone).
 */
const WRITE = `#!lua
${HELPERS}
if ARGV[14] ~= '' and redis.call('EXISTS', ARGV[14]) == 1 then return {0} end
local old = links_of(KEYS[1])
if ARGV[3] == 'xx' and not old then return {0} end
if ARGV[3] == 'nx' and old then return {2} end
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
local old_index, old_bucket = '', ''
if old then old_index, old_bucket = old[1], old[2] end
local evicted = {}
if ARGV[6] == '1' then
  local member, now, index, bucket, score = ARGV[4], ARGV[5], ARGV[7], ARGV[8], ARGV[9]
  if old_index ~= '' and old_index ~= index then redis.call('ZREM', old_index, member) end
  if old_bucket ~= '' and old_bucket ~= bucket then stats_drop(old_bucket, ARGV[11], member, now) end
  if index ~= '' then
    zput(index, member, score, now)
    evicted = trim_to_cap(index, member, tonumber(ARGV[12]), ARGV[13], ARGV[11], now, true)
  end
  if bucket ~= '' then stats_put(bucket, ARGV[10], ARGV[11], member, score, now) end
end
return {1, old_index, old_bucket, evicted}
`;

/**
 * relsTouch(session; ttlMs, expiresAt, member, now, newScore, cascade, registry, updated)
 * → {0} gone | {1, index, bucket, refiled (0|1)}
 *
 * Extends a session (never recreating it) and rewrites the expiry in its header in place.
 * Only when the new expiry passes the score it is filed under is it refiled (newScore).
 */
const TOUCH = `#!lua
${HELPERS}
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return {0} end
local expires, member, now, cascade = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[6] == '1'
local head = redis.pcall('GETRANGE', KEYS[1], 0, 32)
local l
if type(head) == 'table' and head.err then
  -- layout 2: the expiry is a field, the links too
  local set = redis.pcall('HSET', KEYS[1], 'e', expires)
  if type(set) == 'table' and set.err then return {1, '', '', 0} end
  l = links_of(KEYS[1])
else
  if string.sub(head, 1, 1) ~= '3' then return {1, '', '', 0} end
  redis.call('SETRANGE', KEYS[1], 1, ARGV[2])
  local score = tonumber(string.sub(head, 18, 33)) or 0
  if score == 0 or score >= expires then return {1, '', '', 0} end
  redis.call('SETRANGE', KEYS[1], 17, ARGV[5])
  l = links_of(KEYS[1])
end
if not l then return {1, '', '', 0} end
if cascade then
  if l[1] ~= '' then zput(l[1], member, ARGV[5], now) end
  if l[2] ~= '' then stats_put(l[2], ARGV[7], ARGV[8], member, ARGV[5], now) end
end
return {1, l[1], l[2], 1}
`;

/**
 * relsDestroy(session; member, now, cascade, owner, updated, marker, markerMs)
 * → {existed, index, bucket, plain}
 *
 * With \`owner\` (an index key) only a session filed under that index is destroyed: a stale
 * index entry can never revoke another user's session. Its plain-sid copy (mirroring only)
 * goes with it. \`marker\` (migration only) is a key
 * that outlives the session, so a plain-sid copy of it is never read again.
 */
const DESTROY = `#!lua flags=allow-oom
${HELPERS}
local l = links_of(KEYS[1])
if not l then
  -- No private record: the session may live under its plain-sid key alone (migration).
  -- The marker still ends it, unless this was an owner-checked revocation (which never
  -- names a session it cannot see).
  if ARGV[6] ~= '' and ARGV[4] == '' then redis.call('SET', ARGV[6], '1', 'PX', ARGV[7]) end
  return {0, '', '', ''}
end
if ARGV[4] ~= '' and l[1] ~= ARGV[4] then return {0, '', '', ''} end
if ARGV[6] ~= '' then
  local ms = math.max(tonumber(ARGV[7]), redis.call('PTTL', KEYS[1]))
  redis.call('SET', ARGV[6], '1', 'PX', ms)
end
local existed = redis.call('DEL', KEYS[1])
if ARGV[3] == '1' then
  if l[1] ~= '' then redis.call('ZREM', l[1], ARGV[1]) end
  if l[2] ~= '' then stats_drop(l[2], ARGV[5], ARGV[1], ARGV[2]) end
  if l[4] ~= '' then redis.call('DEL', l[4]) end
end
return {existed, l[1], l[2], l[4]}
`;

/**
 * relsIndexPut(index; member, score, now, cap) → {evicted…} — Cluster's follow-up of a write:
 * files the session and trims the index to the cap atomically (the caller revokes the
 * evicted sessions on their own slots, owner-checked).
 */
const INDEX_PUT = `#!lua
${HELPERS}
zput(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
return trim_to_cap(KEYS[1], ARGV[1], tonumber(ARGV[4]), '', '', ARGV[3], false)
`;

/** relsStatsPut(bucket, registry, updated; member, score, now) — Cluster's follow-up. */
const STATS_PUT = `#!lua
${HELPERS}
stats_put(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])
return 1
`;

/** relsStatsDrop(bucket, updated; member, now) — Cluster's follow-up of a destroy or relink. */
const STATS_DROP = `#!lua flags=allow-oom
${HELPERS}
stats_drop(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/**
 * relsIndexRange(index; now, offset, count) → flat {member, score, …}, latest expiry first,
 * expired entries pruned first. count < 0: all.
 */
const INDEX_RANGE = `#!lua flags=allow-oom
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local first = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local last = -1
if count >= 0 then last = first + count - 1 end
return redis.call('ZRANGE', KEYS[1], first, last, 'REV', 'WITHSCORES')
`;

/**
 * relsStatsTotals(registry, updated; now) → {updated, bucket, count, bucket, count, …}
 * Prunes expired members, so sessions that ended by TTL drop out without a scan.
 */
const STATS_TOTALS = `#!lua flags=allow-oom
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
  relsWrite: { lua: WRITE, numberOfKeys: 1 },
  relsTouch: { lua: TOUCH, numberOfKeys: 1 },
  relsDestroy: { lua: DESTROY, numberOfKeys: 1 },
  relsIndexPut: { lua: INDEX_PUT, numberOfKeys: 1 },
  relsStatsPut: { lua: STATS_PUT, numberOfKeys: 3 },
  relsStatsDrop: { lua: STATS_DROP, numberOfKeys: 2 },
  relsIndexRange: { lua: INDEX_RANGE, numberOfKeys: 1 },
  relsStatsTotals: { lua: STATS_TOTALS, numberOfKeys: 2 },
} as const;

export function defineScripts(client: Redis | Cluster): void {
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
}

type Arg = string | number | Buffer;

declare module "ioredis" {
  interface RedisCommander<Context> {
    relsWrite(session: string, ...args: Arg[]): Result<[0] | [2] | [1, string, string, string[]], Context>;
    relsTouch(session: string, ...args: Arg[]): Result<[0] | [1, string, string, 0 | 1], Context>;
    relsDestroy(session: string, ...args: Arg[]): Result<[0 | 1, string, string, string], Context>;
    relsIndexPut(index: string, ...args: Arg[]): Result<string[], Context>;
    relsStatsPut(bucket: string, registry: string, updated: string, ...args: Arg[]): Result<number, Context>;
    relsStatsDrop(bucket: string, updated: string, ...args: Arg[]): Result<number, Context>;
    relsIndexRange(index: string, now: number, offset: number, count: number): Result<string[], Context>;
    relsStatsTotals(registry: string, updated: string, now: number): Result<Array<string | number | null>, Context>;
  }
}
