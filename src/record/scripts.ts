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
 * offsets (Lua strings count from 1: expiresAt is bytes 2–17, the score 18–33; layout 4's
 * deadline 34–49 and its links from 50; layout 3's links from 34).
 */
import type { Cluster, Redis, Result } from "ioredis";
import { TUNABLES } from "../tunables.js";

const HELPERS = `
local NEVER = 8640000000000000
-- How long a record whose lifetime ends at its deadline outlives it (TUNABLES.record.lifetimeGraceMs).
local GRACE = ${TUNABLES.record.lifetimeGraceMs}
local function expire_at_top(key)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] == nil then return end
  local score = tonumber(top[2])
  if score == nil or score >= NEVER then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, score) end
end
-- Expired members are pruned whenever a session is filed, so an index or a bucket never
-- outgrows its live sessions, even in an app that never lists or reads the totals.
-- gt: only raise an entry's score (a repair never undoes a newer filing).
local function zput(key, member, score, now, gt)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. now)
  if gt then redis.call('ZADD', key, 'GT', score, member) else redis.call('ZADD', key, score, member) end
  expire_at_top(key)
end
-- The registry, last-updated and deadline-set keys of a bucket's stats shard, from its tag
-- (the last {...} of its name): mirrors Keys.statsShardOf.
local function shard_of(bucket)
  local close = string.find(bucket, '}[^}]*$')
  local head = string.sub(bucket, 1, close)
  return head .. ':buckets', head .. ':updated', head .. ':deadlines'
end
-- deadline (0 or nil: none) enters the shard's deadline set, the lifetime sweep's work list
-- (record/lifetime-sweep.ts). Entries a grace past their deadline are pruned here, so the set
-- stays bounded even where no sweep runs.
local function stats_put(bucket, member, score, now, gt, deadline)
  local registry, updated, deadlines = shard_of(bucket)
  zput(bucket, member, score, now, gt)
  redis.call('SADD', registry, bucket)
  redis.call('SET', updated, now)
  if deadline and deadline > 0 then
    redis.call('ZREMRANGEBYSCORE', deadlines, '-inf', '(' .. (tonumber(now) - GRACE))
    redis.call('ZADD', deadlines, deadline, member)
    local top = redis.call('ZRANGE', deadlines, -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', deadlines, tonumber(top[2]) + GRACE)
  end
end
-- The absolute deadline in a record's header (layout 4, bytes 34–49), 0 for none.
local function deadline_in(value)
  if type(value) ~= 'string' or string.sub(value, 1, 1) ~= '4' then return 0 end
  return tonumber(string.sub(value, 34, 49)) or 0
end
-- forget: the session ends (a revocation, a delete), so it leaves the deadline set too; a
-- relink (same shard: the shard is the session's) keeps its entry, refiled with the new bucket.
local function stats_drop(bucket, member, now, forget)
  local _, updated, deadlines = shard_of(bucket)
  if redis.call('ZREM', bucket, member) == 1 then redis.call('SET', updated, now) end
  if forget then redis.call('ZREM', deadlines, member) end
end
-- Where a record's links start (Lua counts from 1): layout 4 has the deadline (bytes 34–49)
-- after the score, layout 3 has none.
local function links_at(layout)
  if layout == '4' then return 50 end
  return 34
end
-- A fixed-width number of the header (format.ts's fixedNumber).
local function fixed(n)
  return string.format('%016d', n)
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
  local layout = string.sub(v, 1, 1)
  if layout ~= '3' and layout ~= '4' then return {'', '', 0, ''} end
  local start = links_at(layout)
  local nl = string.find(v, '\\n', start, true)
  local tab = string.find(v, '\\t', start, true)
  if not tab or not nl or tab > nl then return {'', '', 0, ''} end
  local bucket_end, plain = nl, ''
  local second = string.find(v, '\\t', tab + 1, true)
  if second and second < nl then
    bucket_end = second
    plain = string.sub(v, second + 1, nl - 1)
  end
  return {string.sub(v, start, tab - 1), string.sub(v, tab + 1, bucket_end - 1), tonumber(string.sub(v, 18, 33)) or 0, plain}
end
-- Whether the record at key holds session metadata a write must not drop: layout 4 with a
-- non-empty section, or layouts 2 and 3, whose metadata (if any) is inside the payload.
local function holds_meta(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' then return true end
  if not v then return false end
  local layout = string.sub(v, 1, 1)
  if layout ~= '4' then return layout == '3' end
  local nl = string.find(v, '\\n', links_at(layout), true)
  return nl ~= nil and string.sub(v, nl + 1, nl + 1) ~= '\\n'
end
-- Revoke the session at key: delete it and leave its marker (same slot), which lives as long
-- as the session had left, and at least ms: while it lives no write can create it again.
-- A session that never expires (disableTTL) leaves a marker that never expires either.
local function revoke(key, marker, ms)
  local left = redis.call('PTTL', key)
  local existed = redis.call('DEL', key)
  if left == -1 then redis.call('SET', marker, '1') else redis.call('SET', marker, '1', 'PX', math.max(tonumber(ms), left)) end
  return existed
end
-- Tell this scope's subscribers, in the revocation's own step, that session member was revoked
-- and why, with the index and bucket its header names (whose it was): the private hex, never
-- a sid. channel '': no event. The format is RevocationFeed's (record/revocation-feed.ts).
-- pcall: an ACL user without the channel's permission loses the event, never the revocation.
local function announce(channel, reason, member, index, bucket)
  if channel == nil or channel == '' then return end
  redis.pcall('PUBLISH', channel, '1\t' .. reason .. '\t' .. member .. '\t' .. index .. '\t' .. bucket)
end
-- Beyond cap entries, drop the ones filed to expire soonest (but keep): each is revoked
-- if this index owns it (and announced on channel), and its entry removed either way.
-- Returns the members dropped.
local function trim_to_cap(index, keep, cap, head, marker_head, marker_ms, now, cascade, channel)
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
          revoke(key, marker_head .. member .. '}', marker_ms)
          announce(channel, 'cap', member, l[1], l[2])
          if l[2] ~= '' then stats_drop(l[2], member, now, true) end
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
 *           cap, sessionKeyHead, marker, markerHead, markerMs, bornMs, newWindowMs,
 *           leaving, leftIndex, leftBucket, keepMeta, channel, at)
 * → {0} refused | {2} refused (condition "nx", a session exists) | {4} not written: the stored
 *   record holds metadata the caller did not know (keepMeta) | {1, oldIndex, oldBucket, {evicted…}}
 *
 * The write of a session whose filing changes (signed in, relinked, signed out, its expiry
 * past its score), or of a session this process has not seen. Conditions:
 * - "xx": the session was read or written through this object: only while it exists;
 * - "nx": moving a plain-sid copy: only where there is no session and no revocation marker;
 * - "new": a session this process cannot place: refused while its revocation marker lives;
 *   created only if its cookie was issued (bornMs) within newWindowMs (0: not known), so a
 *   copy older than any marker cannot create it either.
 * Standalone (cascade): files it under its owner's index and its bucket, drops it from the old
 * ones, and enforces the per-user cap in the same step. Cluster: the caller filed it first.
 * leaving = '1': the filing being left is leftIndex / leftBucket, not the record's own (a plain
 * save just replaced a record another request had refiled: see SessionRecords#write).
 * keepMeta = '1': the caller does not know the session's metadata (a framework's copy of a
 * session this process did not read): a record that holds some is left as it is ({4}), so the
 * caller reads it and writes again with it: a copy's save never erases a sign-in.
 * channel: where each session the cap revokes is announced (reason "cap"); "" for none.
 * at: when the record ends, for a session whose lifetime ends at its absolute deadline (the
 * deadline plus TUNABLES.record.lifetimeGraceMs; 0: no): by Redis's clock (PXAT), not ttlMs
 * after the script runs. A signed-in session with a deadline (its header's) enters its shard's
 * deadline set, for the lifetime sweep.
 */
const WRITE = `#!lua
${HELPERS}
local old = links_of(KEYS[1])
local condition = ARGV[3]
if condition == 'xx' then
  if not old then return {0} end
else
  if redis.call('EXISTS', ARGV[12]) == 1 then return {0} end
  if condition == 'nx' and old then return {2} end
  local born = tonumber(ARGV[15])
  if not old and born > 0 and tonumber(ARGV[5]) - born > tonumber(ARGV[16]) then return {0} end
end
if ARGV[20] == '1' and old and holds_meta(KEYS[1]) then return {4} end
local ttl, at = tonumber(ARGV[2]), tonumber(ARGV[22])
if at > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PXAT', at)
elseif ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
local old_index, old_bucket = '', ''
if old then old_index, old_bucket = old[1], old[2] end
if ARGV[17] == '1' then old_index, old_bucket = ARGV[18], ARGV[19] end
local evicted = {}
if ARGV[6] == '1' then
  local member, now, index, bucket, score = ARGV[4], ARGV[5], ARGV[7], ARGV[8], ARGV[9]
  if old_index ~= '' and old_index ~= index then redis.call('ZREM', old_index, member) end
  if old_bucket ~= '' and old_bucket ~= bucket then stats_drop(old_bucket, member, now, false) end
  if index ~= '' then
    zput(index, member, score, now)
    evicted = trim_to_cap(index, member, tonumber(ARGV[10]), ARGV[11], ARGV[13], ARGV[14], now, true, ARGV[21])
  end
  if bucket ~= '' then stats_put(bucket, member, score, now, false, deadline_in(ARGV[1])) end
end
return {1, old_index, old_bucket, evicted}
`;

/**
 * relsTouch(session; ttlMs, expiresAt, member, now, newScore, cascade, filedIndex, filedBucket)
 * → {0} gone | {1, index, bucket, refiled (0|1)} | {3, index, bucket, deadline} (Cluster: file first)
 *
 * A layout-4 record's deadline (its absolute lifetime's end) caps what a touch gives it: the
 * expiry and the score never pass it, nor the TTL a grace past it (PEXPIREAT deadline +
 * TUNABLES.record.lifetimeGraceMs once it is the bound), whatever the caller asked (the store asks for
 * no more when it read the header; this covers a touch of a session it did not read). At or
 * past its deadline a session is not extended ({0}: the read that finds it revokes it).
 *
 * Extends a session (never recreating it) and rewrites the expiry in its header in place.
 * It is refiled (newScore) when the new expiry passes its score, or when its score runs
 * further ahead than newScore (a shorter lifetime than it was filed with). Standalone
 * (cascade): refiled here. Cluster: a session is extended only once the caller has filed it
 * under newScore (filedIndex, filedBucket, which must be its own): otherwise {3} names them
 * and nothing changes, so an entry never expires before its session.
 */
const TOUCH = `#!lua
${HELPERS}
local expires, member, now, cascade = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[6] == '1'
local ttl, expires_text, new_score = tonumber(ARGV[1]), ARGV[2], ARGV[5]
local head = redis.pcall('GETRANGE', KEYS[1], 0, 48)
local l
local deadline = 0
if type(head) == 'table' and head.err then
  -- layout 2: the expiry is a field, the links too (refiled after, as in 0.2)
  if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return {0} end
  local set = redis.pcall('HSET', KEYS[1], 'e', expires)
  if type(set) == 'table' and set.err then return {1, '', '', 0} end
  l = links_of(KEYS[1])
  if not l then return {1, '', '', 0} end
else
  if head == '' then return {0} end
  local layout = string.sub(head, 1, 1)
  if layout ~= '3' and layout ~= '4' then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    return {1, '', '', 0}
  end
  if layout == '4' then deadline = tonumber(string.sub(head, 34, 49)) or 0 end
  if deadline > 0 then
    if deadline <= tonumber(now) then return {0} end
    if expires > deadline then
      ttl = ttl - (expires - deadline)
      expires = deadline
      expires_text = fixed(deadline)
    end
    if tonumber(new_score) > deadline then new_score = fixed(deadline) end
  end
  local score = tonumber(string.sub(head, 18, 33)) or 0
  local due = score ~= 0 and (score < expires or score > tonumber(new_score))
  if due then l = links_of(KEYS[1]) end
  if due and not cascade and (l[1] ~= ARGV[7] or l[2] ~= ARGV[8]) then return {3, l[1], l[2], deadline} end
  if ttl < 1 then ttl = 1 end
  redis.call('SETRANGE', KEYS[1], 1, expires_text)
  if due then redis.call('SETRANGE', KEYS[1], 17, new_score) end
  -- Ending at the deadline: a grace past it by Redis's clock (PEXPIREAT), however long ago the
  -- caller read its own; reads refuse it from the deadline on, and the lifetime sweep revokes
  -- it with its event meanwhile. After the SETRANGEs, which would create the key again had
  -- this ended it.
  if deadline > 0 and expires >= deadline then
    redis.call('PEXPIREAT', KEYS[1], deadline + GRACE)
  else
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
  if not due then return {1, '', '', 0} end
end
if cascade then
  if l[1] ~= '' then zput(l[1], member, new_score, now) end
  if l[2] ~= '' then stats_put(l[2], member, new_score, now, false, deadline) end
end
return {1, l[1], l[2], 1}
`;

/**
 * relsDestroy(session; member, now, cascade, owner, marker, markerMs, markAbsent, channel, reason, due)
 * → {existed, index, bucket, plain}
 *
 * due ('' for none): the lifetime sweep's check, in the same step: only a layout-4 record whose
 * header deadline is set and at or before `due` is revoked; any other is left as it is ({0}).
 *
 * With `owner` (an index key) only a session filed under that index is destroyed: a stale
 * index entry can never revoke another user's session. `marker` (the session's revocation
 * marker, "" for a delete that is not a revocation) is left for at least `markerMs`, and at
 * least as long as the session had left, so no later write creates the session again. Its
 * plain-sid copy (mirroring only) goes with it. A revocation of a session that existed is
 * announced on `channel` ("" for none) with `reason`, in this same atomic step.
 */
const DESTROY = `#!lua flags=allow-oom
${HELPERS}
local l = links_of(KEYS[1])
if not l then
  -- No record. While migrating it may live under its plain-sid key alone: the marker ends
  -- that copy (markAbsent), unless this was an owner-checked revocation (which never names
  -- a session it cannot see). A session never saved has nothing to revoke.
  if ARGV[5] ~= '' and ARGV[4] == '' and ARGV[7] == '1' then redis.call('SET', ARGV[5], '1', 'PX', ARGV[6]) end
  return {0, '', '', ''}
end
if ARGV[4] ~= '' and l[1] ~= ARGV[4] then return {0, '', '', ''} end
if ARGV[10] and ARGV[10] ~= '' then
  local head = redis.pcall('GETRANGE', KEYS[1], 0, 48)
  local deadline = deadline_in(head)
  if deadline <= 0 or deadline > tonumber(ARGV[10]) then return {0, '', '', ''} end
end
local existed
if ARGV[5] ~= '' then
  existed = revoke(KEYS[1], ARGV[5], ARGV[6])
  if existed == 1 then announce(ARGV[8], ARGV[9], ARGV[1], l[1], l[2]) end
else
  existed = redis.call('DEL', KEYS[1])
end
if ARGV[3] == '1' then
  if l[1] ~= '' then redis.call('ZREM', l[1], ARGV[1]) end
  if l[2] ~= '' then stats_drop(l[2], ARGV[1], ARGV[2], true) end
  if l[4] ~= '' then redis.call('DEL', l[4]) end
end
return {existed, l[1], l[2], l[4]}
`;

/**
 * relsIndexPut(index; member, score, now, cap, gt) → {evicted…} — Cluster's filing of a write:
 * files the session and trims the index to the cap atomically (the caller revokes the
 * evicted sessions on their own slots, owner-checked). gt = '1': only raise its score (repair).
 */
const INDEX_PUT = `#!lua
${HELPERS}
zput(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[5] == '1')
return trim_to_cap(KEYS[1], ARGV[1], tonumber(ARGV[4]), '', '', 0, ARGV[3], false, '')
`;

/**
 * relsStatsPut(bucket, registry, updated, deadlines; member, score, now, gt, deadline) —
 * Cluster's filing; gt as relsIndexPut's; deadline (0: none) enters the deadline set. The
 * other keys are the bucket's shard's (declared for Cluster).
 */
const STATS_PUT = `#!lua
${HELPERS}
stats_put(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', tonumber(ARGV[5]) or 0)
return 1
`;

/**
 * relsDeadlinesDrop(deadlines; now, member…) — the lifetime sweep, after a page: each member
 * still filed at or before `now` leaves the deadline set (revoked, or gone by its idle
 * timeout); one refiled meanwhile under a later deadline stays.
 */
const DEADLINES_DROP = `#!lua flags=allow-oom
local now = tonumber(ARGV[1])
for i = 2, #ARGV do
  local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]))
  if score and score <= now then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return 1
`;

/**
 * relsStatsDrop(bucket, updated, deadlines; member, now, forget) — Cluster's follow-up of a
 * destroy (forget = '1': off the deadline set too) or a relink.
 */
const STATS_DROP = `#!lua flags=allow-oom
${HELPERS}
stats_drop(KEYS[1], ARGV[1], ARGV[2], ARGV[3] == '1')
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

/**
 * relsUnlock(lock; token) — release a lock (`SET lock token PX … NX`) only if it is still
 * this holder's: one that outlived its hold may have let another process take it.
 */
const UNLOCK = `#!lua flags=allow-oom
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export const SCRIPTS = {
  relsWrite: { lua: WRITE, numberOfKeys: 1 },
  relsTouch: { lua: TOUCH, numberOfKeys: 1 },
  relsDestroy: { lua: DESTROY, numberOfKeys: 1 },
  relsIndexPut: { lua: INDEX_PUT, numberOfKeys: 1 },
  relsStatsPut: { lua: STATS_PUT, numberOfKeys: 4 },
  relsDeadlinesDrop: { lua: DEADLINES_DROP, numberOfKeys: 1 },
  relsStatsDrop: { lua: STATS_DROP, numberOfKeys: 3 },
  relsIndexRange: { lua: INDEX_RANGE, numberOfKeys: 1 },
  relsStatsTotals: { lua: STATS_TOTALS, numberOfKeys: 2 },
  relsUnlock: { lua: UNLOCK, numberOfKeys: 1 },
} as const;

export function defineScripts(client: Redis | Cluster): void {
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
}

type Arg = string | number | Buffer;

declare module "ioredis" {
  interface RedisCommander<Context> {
    relsWrite(
      session: string,
      ...args: Arg[]
    ): Result<[0] | [2] | [4] | [1, string, string, string[]], Context>;
    relsTouch(
      session: string,
      ...args: Arg[]
    ): Result<[0] | [1, string, string, 0 | 1] | [3, string, string, number], Context>;
    relsDestroy(session: string, ...args: Arg[]): Result<[0 | 1, string, string, string], Context>;
    relsIndexPut(index: string, ...args: Arg[]): Result<string[], Context>;
    relsStatsPut(
      bucket: string,
      registry: string,
      updated: string,
      deadlines: string,
      ...args: Arg[]
    ): Result<number, Context>;
    relsDeadlinesDrop(deadlines: string, now: number, ...members: string[]): Result<number, Context>;
    relsUnlock(lock: string, token: string): Result<number, Context>;
    relsStatsDrop(
      bucket: string,
      updated: string,
      deadlines: string,
      ...args: Arg[]
    ): Result<number, Context>;
    relsIndexRange(index: string, now: number, offset: number, count: number): Result<string[], Context>;
    relsStatsTotals(
      registry: string,
      updated: string,
      now: number,
    ): Result<Array<string | number | null>, Context>;
  }
}
