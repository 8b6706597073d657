/**
 * Every Redis key this library touches is built here and only here.
 *
 * Cluster safety comes from hash tags (the part in `{…}` picks the slot):
 * - a session and its revocation marker have the tag `{2::<hex>}`: one slot per session;
 * - a user's index has the tag `{<encoded user id>}`: one slot per user;
 * - the stats counters are sharded: each session is counted in one of `STATS_SHARDS` shards
 *   (chosen from its private hex), whose tags lie in 16 different ranges of 1,024 slots, so
 *   on Cluster no master takes every count. 0.2's single `{stats}` shard is still read.
 * No tag is global to sessions, so sessions spread over every shard.
 */
import { PRIVATE_ID_VERSION } from "../ids.js";
import type { SessionLink } from "./link.js";
import { isClientPlatform, type ClientPlatform } from "./platforms.js";

export const DEFAULT_NAMESPACE = "rels:session";
/** Score and expiry of what never expires: the latest date a JavaScript Date can hold. */
export const NEVER_EXPIRES_MS = 8.64e15;

/** The field of a session object that carries its `SessionMeta` (written by SessionsManager). */
export const META_FIELD = "_rels";

const SESSION_TAG_START = `{${PRIVATE_ID_VERSION}::`;

/**
 * The hash tags of the stats shards: `stats-<k>-<i>` with the first `i` whose slot lies in
 * [k·1024, (k+1)·1024), so the shards spread over the whole slot range and a Cluster of up to
 * 16 masters gives each master its share (test/unit/ids-keys.test.ts checks the slots).
 */
const STATS_SHARD_TAGS = [
  "stats-0-42",
  "stats-1-41",
  "stats-2-62",
  "stats-3-61",
  "stats-4-0",
  "stats-5-3",
  "stats-6-12",
  "stats-7-11",
  "stats-8-62",
  "stats-9-61",
  "stats-10-42",
  "stats-11-41",
  "stats-12-3",
  "stats-13-0",
  "stats-14-21",
  "stats-15-22",
] as const;
export const STATS_SHARDS = STATS_SHARD_TAGS.length;
/** The one shard of 0.2 (and before): read until its counts drain, never written again. */
const LEGACY_STATS_TAG = "stats";

/**
 * The keys of one stats shard: its set of bucket keys, its last-updated time, and its
 * deadline set (the lifetime sweep's work list: member = private hex, score = the session's
 * absolute deadline; record/lifetime-sweep.ts).
 */
export interface StatsShard {
  readonly registry: string;
  readonly updated: string;
  readonly deadlines: string;
}

/** Escape Redis glob characters (`* ? [ ] \`) so user input matches only itself in SCAN. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/**
 * User ids go into key names percent-encoded, so `{`, `}`, spaces and globs cannot change
 * the tag. An id with a lone surrogate (which `encodeURIComponent` rejects) is written as
 * `%u` + its UTF-16 hex: percent-encoding never yields `%u`, so no two ids meet.
 */
function encodeUserId(userId: string): string {
  if (!userId.isWellFormed()) return `%u${Buffer.from(userId, "utf16le").toString("hex")}`;
  return encodeURIComponent(userId).replace(/\*/g, "%2A");
}

/** The user id `encodeUserId` wrote, or undefined for text it cannot have written. */
function decodeUserId(encoded: string): string | undefined {
  if (encoded.startsWith("%u")) return Buffer.from(encoded.slice(2), "hex").toString("utf16le");
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

/** Text `encodeURIComponent` leaves as it is (`*` aside, which `encodeUserId` escapes): it decodes to itself. */
const UNESCAPED = /^[\w.!~'()-]*$/;

export class Keys {
  readonly namespace: string;
  /** Prefix of session keys; connect-redis's `prefix`. Defaults to `<namespace>:`. */
  readonly prefix: string;
  /**
   * What index, stats and flag keys start with: the namespace, and the prefix when it is not
   * the default one. Two stores that cannot see each other's sessions (another prefix) must
   * not share an index: each would prune the other's entries as stale.
   */
  readonly scope: string;
  /** `session(hex)` is this + hex + "}": what the cap script builds evicted sessions' keys from. */
  readonly sessionKeyHead: string;
  /** `revoked(hex)` is this + hex + "}". */
  readonly revokedKeyHead: string;

  constructor(namespace: string = DEFAULT_NAMESPACE, prefix: string = `${namespace}:`) {
    // Index and bucket keys are written into each session's header, which tabs and
    // newlines delimit (record/format.ts).
    if (/[\t\n]/.test(namespace)) throw new RangeError("The namespace must not contain a tab or a newline");
    if (/[\t\n]/.test(prefix)) throw new RangeError("The prefix must not contain a tab or a newline");
    this.namespace = namespace;
    this.prefix = prefix;
    // Percent-encoded, so a `{` or `}` in the prefix cannot change an index key's hash tag.
    this.scope = prefix === `${namespace}:` ? namespace : `${namespace}:${encodeURIComponent(prefix)}`;
    this.sessionKeyHead = `${prefix}${SESSION_TAG_START}`;
    this.revokedKeyHead = `${prefix}tomb:${SESSION_TAG_START}`;
  }

  /** A session record (record/format.ts describes its layout). */
  session(hex: string): string {
    return `${this.sessionKeyHead}${hex}}`;
  }

  /**
   * The revocation marker of a session (its slot): while it lives, no write can create the
   * session again, and a plain-sid copy of it (migration) is never read again.
   */
  revoked(hex: string): string {
    return `${this.revokedKeyHead}${hex}}`;
  }

  /** Where a plain-sid store (connect-redis with the same prefix) kept the session. */
  legacy(sid: string): string {
    return `${this.prefix}${sid}`;
  }

  /** SCAN pattern matching every session key and nothing else under the prefix. */
  sessionPattern(): string {
    return `${escapeGlob(this.prefix)}${SESSION_TAG_START}*`;
  }

  /** The private hex of a session key, or undefined for any other key. */
  hexOfSessionKey(key: string): string | undefined {
    const start = this.prefix.length + SESSION_TAG_START.length;
    if (!key.startsWith(this.prefix + SESSION_TAG_START) || !key.endsWith("}")) return undefined;
    const hex = key.slice(start, -1);
    return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
  }

  /**
   * The pub/sub channel of this scope's revocation events in `database` (pub/sub is one per
   * server, keys one per database: two apps on one namespace in two databases must not hear
   * each other's; record/revocation-feed.ts). Classic
   * pub/sub, not sharded: on Cluster a script may only touch its own slot, and a channel per
   * session's slot would make every subscriber listen to 16,384 channels (docs/scaling.md).
   */
  revocationChannel(database: number): string {
    return `${this.scope}:revoked:${database}`;
  }

  /** Records that no process needs to read plain-sid keys any more. */
  migrationFlag(): string {
    return `${this.scope}:2:secure_store_enabled`;
  }

  /** Held by the one process repairing the index and stats after a Cluster failover. */
  repairLock(): string {
    return `${this.scope}:repair:lock`;
  }

  /** Held by the one process sweeping the scope's sessions past their deadline (record/lifetime-sweep.ts). */
  sweepLock(): string {
    return `${this.scope}:sweep:lock`;
  }

  /** Sorted set of a user's sessions: member = private hex, score = expiry (ms since epoch). */
  userIndex(userId: string): string {
    return `${this.scope}:user:{${encodeUserId(userId)}}`;
  }

  /**
   * The link a record's header files it under (its index and bucket keys), read back from
   * the keys; undefined when they are not this scope's (another prefix's, or none). Cheaper
   * than parsing the metadata it was written from.
   */
  linkOfFiling(index: string, bucket: string): SessionLink | undefined {
    const head = `${this.scope}:user:{`;
    if (!index.startsWith(head) || !index.endsWith("}")) return undefined;
    const encoded = index.slice(head.length, -1);
    // Most ids need no decoding; any other is checked to encode back to the same key.
    const plain = UNESCAPED.test(encoded);
    const userId = plain ? encoded : decodeUserId(encoded);
    const counted = this.parseStatsBucket(bucket);
    if (userId === undefined || counted === undefined || !isClientPlatform(counted.platform))
      return undefined;
    if (!plain && this.userIndex(userId) !== index) return undefined;
    return { userId, applicationName: counted.applicationName, clientPlatform: counted.platform };
  }

  /**
   * Every stats shard's registry and last-updated keys, 0.2's single shard last: what
   * `totals()` reads (one round trip) and what reconcile rebuilds.
   */
  statsShards(): StatsShard[] {
    return [...STATS_SHARD_TAGS, LEGACY_STATS_TAG].map((tag) => this.#statsShard(tag));
  }

  /** The keys of the shard a bucket key belongs to (its tag). */
  statsShardOf(bucket: string): StatsShard {
    const close = bucket.lastIndexOf("}");
    return {
      registry: `${bucket.slice(0, close + 1)}:buckets`,
      updated: `${bucket.slice(0, close + 1)}:updated`,
      deadlines: `${bucket.slice(0, close + 1)}:deadlines`,
    };
  }

  /**
   * Sorted set of live sessions of one application on one platform, in the shard of the
   * session `hex`, scored by filing.
   */
  statsBucket(applicationName: string, platform: ClientPlatform, hex: string): string {
    const shard = Number.parseInt(hex.slice(0, 4), 16) % STATS_SHARDS;
    return this.#bucket(STATS_SHARD_TAGS[shard]!, applicationName, platform);
  }

  /** The bucket keys of one application and platform in every shard, 0.2's last. */
  statsBucketsOf(applicationName: string, platform: ClientPlatform): string[] {
    return [...STATS_SHARD_TAGS, LEGACY_STATS_TAG].map((tag) => this.#bucket(tag, applicationName, platform));
  }

  #bucket(tag: string, applicationName: string, platform: ClientPlatform): string {
    return `${this.scope}:stats:{${tag}}:live:${encodeURIComponent(applicationName)}:${platform}`;
  }

  #statsShard(tag: string): StatsShard {
    return {
      registry: `${this.scope}:stats:{${tag}}:buckets`,
      updated: `${this.scope}:stats:{${tag}}:updated`,
      deadlines: `${this.scope}:stats:{${tag}}:deadlines`,
    };
  }

  /** The application and platform a bucket key (of any shard) counts. */
  parseStatsBucket(key: string): { applicationName: string; platform: string } | undefined {
    const head = `${this.scope}:stats:{`;
    const live = key.indexOf("}:live:", head.length);
    if (!key.startsWith(head) || live < 0) return undefined;
    const rest = key.slice(live + "}:live:".length);
    const cut = rest.lastIndexOf(":");
    if (cut < 0) return undefined;
    try {
      return { applicationName: decodeURIComponent(rest.slice(0, cut)), platform: rest.slice(cut + 1) };
    } catch {
      return undefined; // not encodeURIComponent's text: no bucket of ours
    }
  }
}
