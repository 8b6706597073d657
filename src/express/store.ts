import type { z } from "zod";
import { StoreBase } from "./session-types.js";
import type { SessionData } from "../record/session-data.js";
import type { Logger } from "../types.js";
import { DEFAULTS as CONFIG_DEFAULTS, storeOptionsSchema, describeIssues } from "../config.js";
import { ConfigError, RelsSessionError } from "../errors.js";
import { privateHex, privateIdOfHex } from "../ids.js";
import { DEFAULT_NAMESPACE, Keys } from "../record/keys.js";
import { CORRUPT, STORED_META, SessionRecords, type RecordHeader } from "../record/records.js";
import { linkOfMeta, type SessionLink } from "../record/link.js";
import {
  attachMeta,
  fieldMeta,
  ownMeta,
  metaData,
  metaOfSection,
  metaSection,
  withoutMetaField,
  type MetaValue,
} from "../record/meta-section.js";
import { ClientSource, type RedisClient, type RedisSource } from "../redis/pool.js";
import {
  legacySerializer,
  resolveSerializer,
  type Serializer,
  type SerializerName,
  type TextSerializer,
} from "../record/codec/serializer.js";
import { isoMs } from "../record/codec/iso-time.js";
import { SessionCodec, type FoundRecord } from "../record/codec/session-codec.js";
import { DataLayer } from "../record/data-layer.js";
import { registerDataLayer } from "../record/of-store.js";
import { assertIoredisClient } from "../client-check.js";
import { defaultInstance } from "../default-instance.js";
import { traced } from "../observability/channels.js";
import { LegacyMigration } from "./legacy.js";
import { RecentMap } from "../recent-map.js";

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

type Callback<T> = (error: unknown, value?: T) => void;

/** Longer than any session should live, and well inside what Redis and a JS Date hold. */
const MAX_TTL_MS = 100 * 365 * 86_400_000;

/** A session as `listSessions` yields it: keyed by its private id, never by the cookie's sid. */
export interface StoredSession {
  readonly privateId: string;
  readonly session: SessionData;
}

const DEFAULTS = CONFIG_DEFAULTS.store;

/** What the read (or the last write) of a session learnt, kept beside it (and beside the `req.session` built from it). */
interface Loaded {
  /** The sid it was read for, and its private hex: a later write of the same sid needs no second hash. */
  readonly sid: string;
  readonly hex: string;
  /** The record's header: its expiry (for the touch throttle) and where it is filed. */
  readonly header: RecordHeader | undefined;
  /** Read from a plain-sid key: the next write or touch moves it. */
  readonly legacy: boolean;
  /** Read from layout 2 (a hash): the next write, a script, moves it. */
  readonly layout2?: boolean;
  /** The store that read it: an object read from one store and saved to another is new there. */
  readonly store: RelsRedisStore;
  /** The session's metadata as read (or written): a save that did not change it writes it back as it is. */
  readonly meta: MetaValue;
  /** The link `meta` decides, once worked out (a save of unchanged metadata parses nothing). */
  link?: SessionLink | undefined;
}

/** Base whose constructor returns the object given, so a subclass's private field lands on that object. */
class Stamped {
  constructor(target: object) {
    return target;
  }
}

/**
 * What a read learnt, carried as a private field on the session object itself: invisible to
 * reflection, spreads, JSON and structuredClone, like a WeakMap entry, but without the
 * WeakMap's cost on every read (its ephemeron table, set, and weighed at every scavenge).
 */
class ReadMark extends Stamped {
  #info: Loaded;

  private constructor(target: object, info: Loaded) {
    super(target);
    this.#info = info;
  }

  /** What the read of `session` learnt, if this process read it (anything may be passed: `set` takes what it is given). */
  static of(session: unknown): Loaded | undefined {
    return typeof session === "object" && session !== null && #info in session
      ? (session as ReadMark).#info
      : undefined;
  }

  static put(session: object, info: Loaded): void {
    if (#info in session) (session as ReadMark).#info = info;
    else new ReadMark(session, info);
  }
}

/**
 * Reads remembered by private hex, for frameworks that rebuild the session object they got
 * from `get` (Fastify's session copies it key by key): the header of the same record, found
 * by the sid saved, so a copy's save takes the one-command path and its touch is throttled.
 * A cache, never a guard: a copy it does not know is judged by Redis (the write script and
 * the session's revocation marker), at the cost of a script call.
 */
const RECENT_READS_MAX = 10_000;

/**
 * express-session store on Redis: the adapter between express-session's callbacks and the
 * data layer (record/: the records and the codec, registered for the modules beside the store
 * in record/of-store.ts). It owns the TTL and touch policy, what a read learnt (`ReadMark`),
 * and the migration from plain-sid keys. Keys come from the private id (`2::sha256(sid)`); the sid
 * itself is never written anywhere (outside migration, where the old store already did).
 *
 * Every method takes a callback, as express-session expects, or returns a promise.
 */
export class RelsRedisStore extends StoreBase {
  readonly #source: RedisSource;
  /** A source made here around the app's own client (`client`), closed with the store. */
  readonly #ownSource: boolean;
  readonly #records: SessionRecords;
  readonly #layer: DataLayer;
  readonly #codec: SessionCodec;
  readonly #legacy: LegacyMigration | undefined;
  readonly #ttl: number | ((session: SessionData) => number);
  readonly #disableTTL: boolean;
  readonly #disableTouch: boolean;
  readonly #touchAfter: number | "auto";
  readonly #recordLayout: 3 | 4;
  readonly #logger: Logger | undefined;
  readonly #recentReads = new RecentMap<string, Loaded>(RECENT_READS_MAX);
  /** Held here so the client's event hub (which holds it weakly) lets a dropped store go. */
  readonly #listeners = {
    connect: () => this.emit("connect"),
    disconnect: () => this.emit("disconnect"),
    mastersChanged: () => void this.#repairAfterFailover(),
  };
  #repairing: Promise<void> | undefined;
  readonly #detach: () => void;

  constructor(options: RelsRedisStoreOptions = {}) {
    super();
    const { client, source, logger, namespace: _namespace, ...rest } = options;
    const checked = storeOptionsSchema.safeParse(rest);
    if (!checked.success) throw new ConfigError(describeIssues(checked.error, rest, "store"));
    if (client !== undefined) assertIoredisClient(client);
    // Neither: the pool (and namespace) of RelsSession.configure(), or NotConfiguredError.
    const shared = client || source ? undefined : defaultInstance();
    this.#ownSource = source === undefined && client !== undefined;
    this.#source = source ?? (client ? new ClientSource(client) : shared!.source);
    const namespace = options.namespace ?? shared?.config.redisOptions.namespace ?? DEFAULT_NAMESPACE;
    const keys = new Keys(namespace, options.prefix ?? `${namespace}:`);
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes;
    // The cap bounds what a write may hold before compression, and how far a read inflates.
    const serializer = resolveSerializer(options.serializer, {
      ...(options.compressThreshold === undefined ? {} : { compressThreshold: options.compressThreshold }),
      maxPayloadBytes,
    });
    this.#codec = new SessionCodec(serializer, logger);
    this.#ttl = options.ttl ?? DEFAULTS.ttlSeconds;
    this.#disableTTL = options.disableTTL ?? false;
    this.#disableTouch = options.disableTouch ?? false;
    this.#touchAfter = options.touchAfter ?? "auto";
    this.#recordLayout = options.recordLayout ?? (DEFAULTS.recordLayout as 3 | 4);
    this.#logger = logger;
    const migrating = options.legacyFallback === true || options.mirrorWrites === true;
    const legacyTtlMs =
      (options.legacyTtl ??
        Math.max(typeof this.#ttl === "number" ? this.#ttl : 0, DEFAULTS.legacyTtlSeconds)) * 1000;
    this.#records = new SessionRecords(this.#source, keys, {
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
    this.#layer = new DataLayer(
      this.#records,
      this.#codec,
      logger,
      (hex) => this.#recentReads.delete(hex),
      (sid, session) => this.#metaOf(sid, session as SessionData),
    );
    registerDataLayer(this, this.#layer);
    this.#legacy = migrating
      ? new LegacyMigration(this.#records, {
          mirrorWrites: options.mirrorWrites ?? false,
          ttlMs: legacyTtlMs,
          serializer: legacySerializer(options.serializer),
        })
      : undefined;
    this.#detach = this.#source.subscribe(this.#listeners);
  }

  /**
   * Detach from the Redis client: the store's listeners are removed and its own resources
   * freed. An app's own client stays open (it is the app's to close); the shared pool too
   * (`RelsSession.close()` closes it).
   */
  async close(): Promise<void> {
    this.#detach();
    // On the app's client: the connection this store made for durable revocations (never the client).
    if (this.#ownSource) await this.#source.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- express-session's interface -------------------------------------------------------

  override get(sid: string, callback: Callback<SessionData | null>): void;
  override get(sid: string): Promise<SessionData | null>;
  override get(sid: string, callback?: Callback<SessionData | null>): Promise<SessionData | null> | void {
    return respond(() => traced("get", { sid }, () => this.findSession(sid)), callback);
  }

  override set(sid: string, session: SessionData, callback: Callback<void>): void;
  override set(sid: string, session: SessionData): Promise<void>;
  override set(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> | void {
    return respond(
      () => traced("set", { sid }, () => rejecting(() => this.#save(sid, session)).then(nothing)),
      callback,
    );
  }

  override destroy(sid: string, callback: Callback<void>): void;
  override destroy(sid: string): Promise<void>;
  override destroy(sid: string, callback?: Callback<void>): Promise<void> | void {
    return respond(
      () => traced("destroy", { sid }, async () => void (await this.deleteSessions([sid]))),
      callback,
    );
  }

  override touch(sid: string, session: SessionData, callback: Callback<void>): void;
  override touch(sid: string, session: SessionData): Promise<void>;
  override touch(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> | void {
    return respond(
      () => traced("touch", { sid }, () => rejecting(() => this.#touch(sid, session))),
      callback,
    );
  }

  /** Every session, each with `id` set to its private id (the sid is not stored). */
  override all(callback: Callback<SessionData[]>): void;
  override all(): Promise<SessionData[]>;
  override all(callback?: Callback<SessionData[]>): Promise<SessionData[]> | void {
    const collect = async () => {
      const out: SessionData[] = [];
      for await (const { privateId, session } of this.#streamSessions())
        out.push({ ...session, id: privateId } as SessionData);
      return out;
    };
    return respond(collect, callback);
  }

  /** The private ids of every session. They address storage, and cannot be used as cookies. */
  ids(callback: Callback<string[]>): void;
  ids(): Promise<string[]>;
  ids(callback?: Callback<string[]>): Promise<string[]> | void {
    const collect = async () => {
      const out: string[] = [];
      for await (const hexes of this.#records.scan()) out.push(...hexes.map(privateIdOfHex));
      return out;
    };
    return respond(collect, callback);
  }

  override length(callback: Callback<number>): void;
  override length(): Promise<number>;
  override length(callback?: Callback<number>): Promise<number> | void {
    const count = async () => {
      let n = 0;
      for await (const hexes of this.#records.scan()) n += hexes.length;
      return n;
    };
    return respond(count, callback);
  }

  /**
   * Revoke every session under the prefix, with its index entry and stats. Each leaves its
   * revocation marker: no request in flight, in any framework or process, brings one back; a
   * new session (a new sid) saved afterwards is stored.
   */
  override clear(callback: Callback<void>): void;
  override clear(): Promise<void>;
  override clear(callback?: Callback<void>): Promise<void> | void {
    const wipe = async () => {
      this.#recentReads.clear();
      // One event for every session (not one per session): connections tied to any of them
      // close. Told after a failure too: the sessions revoked so far are gone.
      try {
        for await (const hexes of this.#records.scan()) await this.#destroyRecords(hexes, "clear");
        await this.#legacy?.clear();
      } catch (error) {
        await this.#records.announceCleared().catch(() => undefined);
        throw error;
      }
      await this.#records.announceCleared();
    };
    return respond(wipe, callback);
  }

  /**
   * express-session builds `req.session` from what `get` returned; the store keeps what
   * that read learnt beside it (see `Loaded`).
   */
  override createSession(req: object, session: SessionData) {
    const info = ReadMark.of(session);
    const created = super.createSession(req, session);
    if (info) ReadMark.put(created, info);
    return created;
  }

  // ---- the extra API ---------------------------------------------------------------------

  /**
   * The session of a cookie's sid, or null. Corrupt payloads are a miss (logged, removed).
   * No async frame of its own on the way (it is on every request's path).
   */
  findSession(sid: string): Promise<SessionData | null> {
    return rejecting(() => {
      const hex = privateHex(sid);
      return this.#records.read(hex).then((record) => {
        if (record === null) return this.#findLegacy(sid, hex);
        const session = this.#codec.decode(record);
        if (typeof session === "string") return this.#layer.discard(hex, session);
        if (session && record !== CORRUPT) {
          // Layouts 2 and 3 keep the metadata in the payload's `_rels`: it moves beside the session.
          const meta = record.meta === undefined ? takeMetaField(session) : metaOfSection(record.meta);
          this.#remember(session, {
            sid,
            hex,
            header: record.header,
            legacy: false,
            layout2: record.layout === 2,
            store: this,
            meta,
          });
        }
        return session;
      });
    });
  }

  async #findLegacy(sid: string, hex: string): Promise<SessionData | null> {
    const legacy =
      (await this.#legacy?.read(sid, hex, (raw, serializer) => this.#codec.decodeLegacy(raw, serializer))) ??
      null;
    if (legacy)
      this.#remember(legacy, {
        sid,
        hex,
        header: undefined,
        legacy: true,
        store: this,
        meta: takeMetaField(legacy),
      });
    return legacy;
  }

  /** The raw stored payload (string, or Buffer for binary serializers), not parsed. */
  async peekSession(sid: string): Promise<string | Buffer | null> {
    const record = await this.#records.read(privateHex(sid));
    if (record === null || record === CORRUPT) return null;
    return this.#codec.serializer.binary ? record.payload : record.payload.toString("utf8");
  }

  /** Several sessions in one round trip; duplicates are read once. Keyed by the sid given. */
  async findSessions(sids: readonly string[]): Promise<Map<string, SessionData | null>> {
    const unique = [...new Set(sids)];
    const hexes = unique.map((sid) => privateHex(sid));
    const records = await this.#records.readMany(hexes);
    const found = await Promise.all(
      records.map((record, i) => (record === null ? null : this.#decodeListed(hexes[i]!, record))),
    );
    return new Map(unique.map((sid, i) => [sid, found[i] ?? null]));
  }

  /**
   * Destroy several sessions by sid in one round trip (plus the index follow-up on Cluster).
   * A revocation: a request of this process that read one of them cannot save it again,
   * even from a copy of the session it read.
   */
  async deleteSessions(sids: readonly string[]): Promise<number> {
    return this.#deleteSessions(sids, "revoke");
  }

  async #deleteSessions(sids: readonly string[], why: DeleteReason): Promise<number> {
    const hexes = [...new Set(sids)].map((sid) => privateHex(sid));
    const [count] = await Promise.all([
      this.#destroyRecords(hexes, why),
      // Every sid was checked by privateHex above.
      this.#legacy?.remove(sids),
    ]);
    return count;
  }

  /**
   * Every session, streamed: one SCAN page per master at a time, at most one page in memory.
   * Glob characters in the prefix are escaped, so only this store's sessions match.
   */
  listSessions(options: { stream: true }): AsyncGenerator<StoredSession>;
  /** Every session, collected into one array (for small stores and tools). */
  listSessions(options?: { stream?: false }): Promise<StoredSession[]>;
  listSessions(options: { stream?: boolean } = {}): AsyncGenerator<StoredSession> | Promise<StoredSession[]> {
    if (options.stream) return this.#streamSessions();
    return (async () => {
      const out: StoredSession[] = [];
      for await (const entry of this.#streamSessions()) out.push(entry);
      return out;
    })();
  }

  async *#streamSessions(): AsyncGenerator<StoredSession> {
    for await (const hexes of this.#records.scan()) {
      const records = await this.#records.readMany(hexes);
      for (let i = 0; i < hexes.length; i++) {
        const hex = hexes[i]!;
        const record = records[i];
        const session =
          record === null || record === undefined ? null : await this.#decodeListed(hex, record);
        if (session) yield { privateId: privateIdOfHex(hex), session };
      }
    }
  }

  // ---- internals -------------------------------------------------------------------------

  /** A stored session for a listing: never with its metadata (layouts 2 and 3 keep it in the payload). */
  async #decodeListed(hex: string, record: FoundRecord): Promise<SessionData | null> {
    const session = await this.#layer.decodeStored(hex, record);
    if (session && record !== CORRUPT && record.meta === undefined) takeMetaField(session);
    return session;
  }

  /**
   * Cluster: another set of masters (a failover) may have lost the last filings of live
   * sessions; one process of the fleet files every signed-in session again (see
   * `SessionRecords#repairFilings`). Never thrown at anyone: a failure is logged.
   */
  #repairAfterFailover(): Promise<void> {
    this.#repairing ??= this.#records
      .repairFilings()
      .then(
        (repaired) => {
          if (repaired) this.emit("repaired");
        },
        (error: unknown) =>
          this.#logger?.warn(
            { error: String(error) },
            "rels-session: repairing the index after a failover failed; run `rels-session reconcile`",
          ),
      )
      .finally(() => (this.#repairing = undefined));
    return this.#repairing;
  }

  /**
   * Write a session. One read or written through this object (or a copy of one this process
   * read) is saved only while it exists, however long the request ran; any other is judged by
   * Redis against the session's revocation marker. Afterwards the object knows what was
   * written, so its next save (express-session saves a sign-in twice when the route calls
   * `save()`) is a plain `SET … XX`: a revocation in between is final.
   *
   * No async frame of its own (it is on every modifying request's path): a bad lifetime or
   * an oversized session throws synchronously; callers run it through `rejecting`, or from
   * an async frame.
   */
  #save(sid: string, session: SessionData, condition?: "absent"): Promise<boolean> {
    const { hex, info } = this.#loadedInfo(sid, session);
    const ttlMs = this.#ttlMs(session);
    // express-session's contract: saving an already expired session deletes it (this is
    // not a revocation: a later save of the same sid is stored).
    if (ttlMs <= 0) return this.#deleteSessions([sid], "expired").then(() => false);
    // The metadata: set on this object (the manager), in its `_rels` field (an app's or an
    // older writer's), else what was read for it (a copy: by private hex); else unknown.
    const own = ownMeta(session);
    const meta = own === undefined ? info?.meta : own;
    const bare = withoutMetaField(session);
    // The serializer refuses a session over maxPayloadBytes (uncompressed) with
    // SessionPayloadTooLargeError: nothing is written.
    const layout4 = this.#recordLayout === 4;
    const cached = info !== undefined && meta === info.meta && "link" in info;
    // Parsed only when needed: unchanged metadata of layout 4 is written back as the text read.
    const data = layout4 && cached ? undefined : metaData(meta);
    const payload = this.#codec.encode(
      layout4 || data === null ? bare : ({ ...bare, _rels: data } as SessionData),
    );
    const section = layout4 ? metaSection(meta ?? null) : undefined;
    const link = cached ? info.link : linkOfMeta(data);
    const fromPrivate = info !== undefined && !info.legacy;
    const now = Date.now();
    const written = this.#records
      .write({
        hex,
        payload,
        ttlMs: this.#disableTTL ? 0 : ttlMs,
        link,
        condition: condition ?? (fromPrivate ? "exists" : "new"),
        previous: fromPrivate && !info.layout2 ? info.header : undefined,
        now,
        plain: this.#legacy?.mirrors ? this.#legacy.plainKeyOf(sid) : "",
        // A plain-sid session is moved whatever its age: its record never existed.
        bornMs: fromPrivate || info?.legacy ? 0 : cookieIssuedAt(session),
        meta: section,
        keepMeta: meta === undefined,
      })
      .then((header): boolean | Promise<boolean> => {
        if (header === STORED_META) return this.#saveKeepingMeta(sid, hex, session, condition);
        if (header === undefined) return false;
        // What was written is what a later save writes back unchanged.
        const kept: MetaValue = section === undefined ? (meta ?? null) : metaOfSection(section);
        this.#remember(session, { sid, hex, header, legacy: false, store: this, meta: kept, link });
        return true;
      });
    if (!this.#legacy) return written;
    // The plain-sid copy carries the metadata in `_rels`, as the stores before layout 4 kept it.
    const mirrored = data === undefined ? metaData(meta) : data;
    const plainCopy = mirrored === null ? bare : ({ ...bare, _rels: mirrored } as SessionData);
    return this.#saveMigrating(this.#legacy, written, sid, hex, plainCopy, ttlMs);
  }

  /**
   * A copy this process cannot place, of a session whose record holds metadata: read it and
   * save again with it, so a framework's copy never erases a sign-in.
   */
  async #saveKeepingMeta(
    sid: string,
    hex: string,
    session: SessionData,
    condition: "absent" | undefined,
  ): Promise<boolean> {
    const record = await this.#records.read(hex);
    let meta: MetaValue = null;
    if (record !== null && record !== CORRUPT) {
      if (record.meta !== undefined) meta = metaOfSection(record.meta);
      else {
        const stored = this.#codec.decode(record);
        if (stored !== null && typeof stored === "object") meta = fieldMeta(stored) ?? null;
      }
    }
    attachMeta(session, meta);
    return this.#save(sid, session, condition);
  }

  /** What a request's session holds as metadata: set on it, else what was read for it (see `#save`). */
  #metaOf(sid: string, session: SessionData): MetaValue | undefined {
    const own = ownMeta(session);
    if (own !== undefined) return own;
    return this.#loadedInfo(sid, session).info?.meta;
  }

  /** The rest of a save while migrating from plain-sid keys: the plain copy beside it, and the mirror. */
  async #saveMigrating(
    legacy: LegacyMigration,
    written: Promise<boolean>,
    sid: string,
    hex: string,
    session: SessionData,
    ttlMs: number,
  ): Promise<boolean> {
    const [stored] = await Promise.all([written, legacy.besideWrite(sid)]);
    if (!stored) return false;
    // Mirroring costs a round trip of its own, and only during a mixed-version rollout.
    if (legacy.mirrors) await legacy.mirror(sid, hex, session, this.#disableTTL ? 0 : ttlMs);
    return true;
  }

  /** Like `#save`, no async frame of its own: most touches fall within `touchAfter` and send nothing. */
  #touch(sid: string, session: SessionData): Promise<void> {
    if (this.#disableTouch || this.#disableTTL) return DONE;
    const ttlMs = this.#ttlMs(session);
    const { hex, info } = this.#loadedInfo(sid, session);
    const known = info?.header?.expiresAt;
    // Within the throttle: the expiry moved by less than `touchAfter`, forward (time passed) or
    // back (another process's clock). A lifetime that got shorter by more is sent at once.
    const moved = known === undefined ? Number.NaN : Date.now() + ttlMs - known;
    const throttle = this.#touchAfterMs(ttlMs);
    if (ttlMs > 0 && Math.abs(moved) < throttle) return DONE;
    return this.#extend(sid, session, hex, info, ttlMs);
  }

  async #extend(
    sid: string,
    session: SessionData,
    hex: string,
    info: Loaded | undefined,
    ttlMs: number,
  ): Promise<void> {
    if (ttlMs <= 0) {
      await this.#deleteSessions([sid], "expired");
      return;
    }
    // A session still living under its plain-sid key has no private key to extend: move it,
    // unless a concurrent request already did (its save is newer than this copy).
    if (info?.legacy && (await this.#save(sid, session, "absent"))) return;
    await this.#records.touch(hex, ttlMs, Date.now(), info?.legacy ? undefined : info?.header);
  }

  /** Remember what the read of `session` learnt (see `Loaded` and `RECENT_READS_MAX`). */
  #remember(session: SessionData, info: Loaded): void {
    ReadMark.put(session, info);
    this.#recentReads.set(info.hex, info);
  }

  /** The private hex of `sid`, and what the read of the session saved as `sid` learnt, if this process read it. */
  #loadedInfo(sid: string, session: SessionData): { hex: string; info: Loaded | undefined } {
    const info = ReadMark.of(session);
    if (info?.sid === sid && info.store === this) return { hex: info.hex, info };
    const hex = privateHex(sid);
    const recent = this.#recentReads.get(hex);
    return { hex, info: recent?.sid === sid ? recent : undefined };
  }

  /**
   * Destroy by private hex. A revocation leaves each session's marker in Redis (no later
   * write creates it again); an expired cookie's delete or a corrupt record's does not. What
   * this process read of them is forgotten either way.
   */
  #destroyRecords(hexes: readonly string[], why: DeleteReason): Promise<number> {
    for (const hex of hexes) this.#recentReads.delete(hex);
    if (why === "clear") return this.#records.destroy(hexes, { reason: "clear" });
    return this.#records.destroy(hexes, { revoke: why === "revoke", reason: "destroy" });
  }

  /**
   * The session's lifetime in whole ms (Redis takes no fractions), from its cookie, else
   * `ttl`. One clear error for a lifetime that is not a number or over 100 years.
   */
  #ttlMs(session: SessionData): number {
    const expires = session?.cookie?.expires;
    const ms =
      typeof this.#ttl === "function"
        ? this.#ttl(session) * 1000
        : expires
          ? (typeof expires === "string" ? isoMs(expires) : new Date(expires).getTime()) - Date.now()
          : this.#ttl * 1000;
    if (!Number.isFinite(ms) || ms > MAX_TTL_MS) {
      throw new RelsSessionError(
        "The session's lifetime is not a number of at most 100 years: check `ttl` and cookie.expires / maxAge",
      );
    }
    return Math.ceil(ms);
  }

  #touchAfterMs(ttlMs: number): number {
    const wanted =
      this.#touchAfter === "auto"
        ? Math.min(ttlMs * DEFAULTS.autoTouchFraction, DEFAULTS.autoTouchMaxMs)
        : this.#touchAfter * 1000;
    return Math.min(wanted, ttlMs * DEFAULTS.touchAfterMaxFraction);
  }
}

/**
 * Why sessions are deleted: revoked (destroy), revoked by `clear()` (announced once for all),
 * expired (saved with a past expiry), or corrupt.
 */
type DeleteReason = "revoke" | "clear" | "expired" | "corrupt";

const DONE: Promise<void> = Promise.resolve();

/**
 * `work()`, a synchronous throw turned into a rejection: an operation refused before it
 * reaches Redis still settles as a failed promise, so tracing subscribers see it end with
 * an error (asyncEnd), as the metrics bridge counts it.
 */
function rejecting<T>(work: () => Promise<T>): Promise<T> {
  try {
    return work();
  } catch (error) {
    return Promise.reject(error);
  }
}

function nothing(): void {}

/**
 * When the session's cookie was issued, as express-session and @fastify/session keep it
 * (`expires` − `originalMaxAge`); 0 when it has no expiry or the numbers are not usable.
 */
function cookieIssuedAt(session: SessionData): number {
  const cookie = session?.cookie as { expires?: unknown; originalMaxAge?: unknown } | undefined;
  const maxAge = cookie?.originalMaxAge;
  const expires = cookie?.expires;
  if (
    typeof maxAge !== "number" ||
    !Number.isFinite(maxAge) ||
    (typeof expires !== "string" && !(expires instanceof Date))
  )
    return 0;
  const at = (typeof expires === "string" ? isoMs(expires) : expires.getTime()) - maxAge;
  return Number.isFinite(at) && at > 0 ? at : 0;
}

/** The metadata in a decoded payload's `_rels` field (layouts 2 and 3), taken out of the session object. */
function takeMetaField(session: SessionData): MetaValue {
  const meta = fieldMeta(session);
  if (meta === undefined) return null;
  delete (session as unknown as Record<string, unknown>)._rels;
  return meta;
}

function durableMode(value: boolean | "auto"): "auto" | "on" | "off" {
  return value === "auto" ? "auto" : value ? "on" : "off";
}

/**
 * Callback if given, else the promise. The callback runs outside the promise chain (on the
 * next tick), so a callback that throws surfaces as a throw, never as an unhandled rejection.
 */
function respond<T>(work: () => Promise<T>, callback: Callback<T> | undefined): Promise<T> | void {
  const promise = rejecting(work);
  if (!callback) return promise;
  promise.then(
    (value) => process.nextTick(callback, null, value),
    (error: unknown) => process.nextTick(callback, error),
  );
}
