import type { z } from "zod";
import type { SessionData } from "../record/session-data.js";
import type { Logger } from "../types.js";
import { DEFAULTS as CONFIG_DEFAULTS, storeOptionsSchema, describeIssues } from "../config.js";
import { ConfigError } from "../errors.js";
import { DEFAULT_NAMESPACE, Keys } from "../record/keys.js";
import { SessionRecords } from "../record/records.js";
import { ClientSource } from "../redis/client-source.js";
import type { RedisClient, RedisSource } from "../redis/source.js";
import {
  legacySerializer,
  resolveSerializer,
  type Serializer,
  type SerializerName,
  type TextSerializer,
} from "../record/codec/serializer.js";
import { SessionCodec } from "../record/codec/session-codec.js";
import { DataLayer } from "../record/data-layer.js";
import { assertIoredisClient } from "../client-check.js";
import { defaultInstance } from "../default-instance.js";
import { LegacyMigration } from "./legacy.js";
import { LifetimePolicy } from "./lifetime.js";
import type { StoreReads } from "./read-mark.js";

export interface RelsRedisStoreOptions {
  /**
   * An ioredis client (or Cluster) of the app's own. Without it the store uses the shared
   * pool set up by `RelsSession.configure()`.
   */
  client?: RedisClient;
  /** @internal The shared pool, passed by `RelsSession.store()`. */
  source?: RedisSource;
  /** Prefix of every key that is not a session key (user index, stats, flags). @default "rels:session" */
  namespace?: string;
  /** Prefix of session keys, as connect-redis's. @default `${namespace}:` */
  prefix?: string;
  /**
   * Expiry in seconds when the cookie has none, or a function of the session, as connect-redis's.
   * @default 86400
   */
  ttl?: number | ((session: SessionData) => number);
  /**
   * Store sessions without expiry; `touch` then does nothing. A session whose cookie has
   * already expired is still deleted, as express-session's contract says.
   * @default false
   */
  disableTTL?: boolean;
  /** Never send anything on `touch`. @default false */
  disableTouch?: boolean;
  /** COUNT hint of each SCAN page. @default RELS_SESSION_SCAN_COUNT, else 50 */
  scanCount?: number;
  /** `"json"`, `"msgpack"` (needs `msgpackr`) or an object with `parse`/`stringify`, as connect-redis's. @default "json" */
  serializer?: SerializerName | TextSerializer | Serializer;
  /** Deflate payloads of at least this many bytes. Off by default. */
  compressThreshold?: number;
  /**
   * Seconds after the session's last write (or touch) during which `touch` sends nothing,
   * as connect-mongo's. `"auto"` is a tenth of the session's lifetime, at most an hour.
   * Never more than half the lifetime, whatever is given: a longer one would let an active
   * session expire.
   * @default "auto"
   */
  touchAfter?: number | "auto";
  /** Sessions that serialize to more bytes are refused with `SessionPayloadTooLargeError`. @default 1048576 */
  maxPayloadBytes?: number;
  /**
   * Signing in beyond this many sessions of one user revokes the ones due to expire soonest
   * (for rolling sessions: the least recently active), atomically with the sign-in's write.
   * 0 turns the bound off.
   * @default 1000
   */
  maxSessionsPerUser?: number;
  /**
   * Acknowledge a revocation (destroy, every `logout*`, a CLI revoke) only once a replica has
   * it (`WAIT 1 <timeout>`), so that a failover cannot bring revoked sessions back. `"auto"`:
   * on while the master reports a connected replica (checked at most every 10 s). When no
   * replica confirms in time, the call rejects with `RevocationNotReplicatedError` (the
   * master has applied it; retrying is safe).
   * @default "auto"
   */
  durableRevocation?: boolean | "auto";
  /** How long a revocation waits for a replica, in ms. @default 500 */
  durableRevocationTimeout?: number;
  /**
   * @deprecated Ignored since 0.2: every revocation leaves a marker that lives as long as the
   * session had left (at least a day), and a session read by a request is saved only while it
   * exists; no setting is needed.
   */
  tombstoneTtl?: number;
  /** Read plain-sid keys (a connect-redis store with the same prefix) until migrated. @default false */
  legacyFallback?: boolean;
  /** Also write plain-sid keys, for a rollout where old versions still read them. @default false */
  mirrorWrites?: boolean;
  /**
   * Seconds a plain-sid session may live (the old store's longest cookie lifetime): once
   * that long has passed since every writer went private-only, plain keys are not read.
   * @default the larger of `ttl` and 30 days
   */
  legacyTtl?: number;
  /**
   * The record layout written: 4 keeps the session metadata in a section of its own, 3
   * inside the payload (for a rolling upgrade while processes that cannot read layout 4 still run).
   * Both are read. @default 4
   */
  recordLayout?: 3 | 4;
  logger?: Logger;
}

/**
 * The options are validated by `storeOptionsSchema` (config.ts) and typed, with their docs,
 * above; their defaults live once, in config.ts's `DEFAULTS`. This fails to compile when the
 * two lists of names drift apart.
 */
type SchemaOptionNames = keyof z.input<typeof storeOptionsSchema>;
type TypedOptionNames = Exclude<keyof RelsRedisStoreOptions, "client" | "source" | "namespace">;
const _sameOptionNames: [SchemaOptionNames, TypedOptionNames] extends [TypedOptionNames, SchemaOptionNames]
  ? true
  : never = true;
void _sameOptionNames;

/** A session as `listSessions` yields it: keyed by its private id, never by the cookie's sid. */
export interface StoredSession {
  readonly privateId: string;
  readonly session: SessionData;
}

const DEFAULTS = CONFIG_DEFAULTS.store;

/** What a store is built from its options: where Redis is, its data layer, its policies. */
export interface StoreParts {
  readonly source: RedisSource;
  /** A source made here around the app's own client (`client`), closed with the store. */
  readonly ownSource: boolean;
  readonly records: SessionRecords;
  readonly codec: SessionCodec;
  readonly layer: DataLayer;
  readonly legacy: LegacyMigration | undefined;
  readonly lifetime: LifetimePolicy;
  readonly recordLayout: 3 | 4;
}

/**
 * The options validated (a `ConfigError` otherwise) and turned into the store's parts. The
 * data layer tells `reads` of each session it removes as corrupt, and asks it for the
 * metadata of a request's session.
 */
export function buildStoreParts(options: RelsRedisStoreOptions, reads: StoreReads): StoreParts {
  const { client, source, logger, namespace: _namespace, ...rest } = options;
  const checked = storeOptionsSchema.safeParse(rest);
  if (!checked.success) throw new ConfigError(describeIssues(checked.error, rest, "store"));
  if (client !== undefined) assertIoredisClient(client);
  // Neither: the pool (and namespace) of RelsSession.configure(), or NotConfiguredError.
  const shared = client || source ? undefined : defaultInstance();
  const ownSource = source === undefined && client !== undefined;
  const redis = source ?? (client ? new ClientSource(client) : shared!.source);
  const namespace = options.namespace ?? shared?.config.redisOptions.namespace ?? DEFAULT_NAMESPACE;
  const keys = new Keys(namespace, options.prefix ?? `${namespace}:`);
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes;
  // The cap bounds what a write may hold before compression, and how far a read inflates.
  const serializer = resolveSerializer(options.serializer, {
    ...(options.compressThreshold === undefined ? {} : { compressThreshold: options.compressThreshold }),
    maxPayloadBytes,
  });
  const codec = new SessionCodec(serializer, logger);
  const lifetime = new LifetimePolicy(options);
  const recordLayout = options.recordLayout ?? (DEFAULTS.recordLayout as 3 | 4);
  const migrating = options.legacyFallback === true || options.mirrorWrites === true;
  const legacyTtlMs =
    (options.legacyTtl ??
      Math.max(typeof lifetime.ttl === "number" ? lifetime.ttl : 0, DEFAULTS.legacyTtlSeconds)) * 1000;
  const records = new SessionRecords(redis, keys, {
    scanCount: options.scanCount ?? DEFAULTS.scanCount,
    maxSessionsPerUser: options.maxSessionsPerUser ?? DEFAULTS.maxSessionsPerUser,
    revokedMarkerMs: Math.max(DEFAULTS.newSessionWindowMs, migrating ? legacyTtlMs : 0),
    newSessionWindowMs: DEFAULTS.newSessionWindowMs,
    plainCopies: migrating,
    durableRevocation: {
      mode: durableMode(options.durableRevocation ?? DEFAULTS.durableRevocation),
      timeoutMs: options.durableRevocationTimeout ?? DEFAULTS.durableRevocationTimeoutMs,
    },
  });
  const layer = new DataLayer(
    records,
    codec,
    logger,
    (hex) => reads.forget(hex),
    (sid, session) => reads.metaOf(sid, session),
  );
  const legacy = migrating
    ? new LegacyMigration(records, {
        mirrorWrites: options.mirrorWrites ?? false,
        ttlMs: legacyTtlMs,
        serializer: legacySerializer(options.serializer),
      })
    : undefined;
  return { source: redis, ownSource, records, codec, layer, legacy, lifetime, recordLayout };
}

function durableMode(value: boolean | "auto"): "auto" | "on" | "off" {
  return value === "auto" ? "auto" : value ? "on" : "off";
}
