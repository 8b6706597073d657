import { Store, type SessionData } from "express-session";
import type { Request } from "express";
import { storeOptionsSchema, describeIssues } from "./config.js";
import { ConfigError, RelsSessionError, SerializerUnavailableError, SessionPayloadTooLargeError } from "./errors.js";
import { hexOfPrivateId, privateHex, privateIdOfHex, sessionHandle } from "./ids.js";
import { DEFAULT_NAMESPACE, Keys, META_FIELD, NEVER_EXPIRES_MS } from "./keys.js";
import { ClientSource, type RedisClient, type RedisSource } from "./redis/pool.js";
import { legacySerializer, resolveSerializer, type Serializer, type SerializerName, type TextSerializer } from "./serializer.js";
import { SessionLinks, linkOf } from "./session-links.js";
import { isSessionShaped } from "./session-shape.js";
import { assertIoredisClient } from "./client-check.js";
import { defaultInstance } from "./default-instance.js";
import { traced } from "./observability/channels.js";
import { LegacyMigration } from "./legacy.js";
import { isWrongType, nullOnWrongType } from "./redis/wrong-type.js";

/** pino-compatible: `logger.warn({ … }, "message")`. */
export interface Logger {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

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
  /** Store sessions without expiry; `touch` then does nothing. @default false */
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
   * as connect-mongo's. `"auto"` is a tenth of the session's lifetime, at most an hour:
   * Redis may then expire a session that long before its cookie would.
   * @default "auto"
   */
  touchAfter?: number | "auto";
  /** Sessions that serialize to more bytes are refused with `SessionPayloadTooLargeError`. @default 1048576 */
  maxPayloadBytes?: number;
  /** Seconds a destroyed session's tombstone lives, refusing late saves from requests in flight. @default 300 */
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
  logger?: Logger;
}

const CORRUPT = Symbol("corrupt");
const UNREADABLE_HERE = Symbol("unreadable by this process");

/** A key of another type where a session should be. */
const NOT_A_SESSION = Symbol("not a session hash");

/** What a read finds: nothing, not a session, or the payload and the expiry Redis was given. */
type RawReply = null | typeof NOT_A_SESSION | readonly [payload: string | Buffer, expiresAt: number | undefined];

type Callback<T> = (error: unknown, value?: T) => void;

/** What `readMeta` finds of a session: its metadata, its owner's index key, when it expires. */
export interface SessionRecord {
  readonly meta: string | null;
  readonly index: string | null;
  /** Only when asked for (`readMeta(…, { expiry: true })`). */
  readonly expiresAt: Date | undefined;
}

/** Longer than any session should live, and well inside what Redis and a JS Date hold. */
const MAX_TTL_MS = 100 * 365 * 86_400_000;

/** A session as `listSessions` yields it: keyed by its private id, never by the cookie's sid. */
export interface StoredSession {
  readonly privateId: string;
  readonly session: SessionData;
}

const DEFAULTS = {
  ttlSeconds: 86_400,
  scanCount: 50,
  maxPayloadBytes: 1_048_576,
  tombstoneTtlSeconds: 300,
  legacyTtlSeconds: 30 * 86_400,
  autoTouchFraction: 0.1,
  autoTouchMaxMs: 3_600_000,
} as const;

/** What the read of a session learnt, kept beside it (and beside the `req.session` built from it). */
interface Loaded {
  /** The sid it was read for, and its private hex: a later write of the same sid needs no second hash. */
  readonly sid: string;
  readonly hex: string;
  /** Where Redis said it would expire, so `touch` can tell whether it is due. */
  readonly expiresAt: number | undefined;
  /** Read from a plain-sid key: the next write or touch moves it. */
  readonly legacy: boolean;
}
const loaded = new WeakMap<object, Loaded>();

/**
 * express-session store on Redis. Keys come from the private id (`2::sha256(sid)`); the sid
 * itself is never written anywhere.
 *
 * Every method takes a callback, as express-session expects, or returns a promise.
 */
export class RelsRedisStore extends Store {
  readonly #source: RedisSource;
  readonly #keys: Keys;
  readonly #serializer: Serializer;
  readonly #links: SessionLinks;
  readonly #legacy: LegacyMigration | undefined;
  readonly #ttl: number | ((session: SessionData) => number);
  readonly #disableTTL: boolean;
  readonly #disableTouch: boolean;
  readonly #scanCount: number;
  readonly #touchAfter: number | "auto";
  readonly #maxPayloadBytes: number;
  readonly #tombstoneMs: number;
  readonly #logger: Logger | undefined;

  constructor(options: RelsRedisStoreOptions = {}) {
    super();
    const { client, source, logger, namespace: _namespace, ...rest } = options;
    const checked = storeOptionsSchema.safeParse(rest);
    if (!checked.success) throw new ConfigError(describeIssues(checked.error, rest, "store"));
    if (client !== undefined) assertIoredisClient(client);
    // Neither: the pool (and namespace) of RelsSession.configure(), or NotConfiguredError.
    const shared = client || source ? undefined : defaultInstance();
    this.#source = source ?? (client ? new ClientSource(client) : shared!.source);
    const namespace = options.namespace ?? shared?.config.redisOptions.namespace ?? DEFAULT_NAMESPACE;
    this.#keys = new Keys(namespace, options.prefix ?? `${namespace}:`);
    this.#serializer = resolveSerializer(options.serializer, options.compressThreshold);
    this.#links = new SessionLinks(this.#source, this.#keys);
    this.#ttl = options.ttl ?? DEFAULTS.ttlSeconds;
    this.#disableTTL = options.disableTTL ?? false;
    this.#disableTouch = options.disableTouch ?? false;
    this.#scanCount = options.scanCount ?? DEFAULTS.scanCount;
    this.#touchAfter = options.touchAfter ?? "auto";
    this.#maxPayloadBytes = options.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes;
    this.#tombstoneMs = (options.tombstoneTtl ?? DEFAULTS.tombstoneTtlSeconds) * 1000;
    this.#logger = logger;
    this.#legacy =
      options.legacyFallback || options.mirrorWrites
        ? new LegacyMigration(this.#source, this.#keys, {
            mirrorWrites: options.mirrorWrites ?? false,
            ttlMs:
              (options.legacyTtl ?? Math.max(typeof this.#ttl === "number" ? this.#ttl : 0, DEFAULTS.legacyTtlSeconds)) * 1000,
            serializer: legacySerializer(options.serializer),
          })
        : undefined;
    this.#source.on("connect", () => this.emit("connect"));
    this.#source.on("disconnect", () => this.emit("disconnect"));
  }

  /** The key builder, for modules that work next to the store (index, stats, CLI). */
  get keys(): Keys {
    return this.#keys;
  }

  /** @internal */
  get source(): RedisSource {
    return this.#source;
  }

  get scanCount(): number {
    return this.#scanCount;
  }

  // ---- express-session's interface -------------------------------------------------------

  override get(sid: string, callback: Callback<SessionData | null>): void;
  override get(sid: string): Promise<SessionData | null>;
  override get(sid: string, callback?: Callback<SessionData | null>): Promise<SessionData | null> | void {
    return respond(traced("get", { sid }, () => this.findSession(sid)), callback);
  }

  override set(sid: string, session: SessionData, callback: Callback<void>): void;
  override set(sid: string, session: SessionData): Promise<void>;
  override set(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> | void {
    return respond(
      traced("set", { sid }, () => this.#save(sid, session)).then(() => undefined),
      callback,
    );
  }

  override destroy(sid: string, callback: Callback<void>): void;
  override destroy(sid: string): Promise<void>;
  override destroy(sid: string, callback?: Callback<void>): Promise<void> | void {
    return respond(
      traced("destroy", { sid }, () => this.deleteSessions([sid])).then(() => undefined),
      callback,
    );
  }

  override touch(sid: string, session: SessionData, callback: Callback<void>): void;
  override touch(sid: string, session: SessionData): Promise<void>;
  override touch(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> | void {
    return respond(traced("touch", { sid }, () => this.#touch(sid, session)), callback);
  }

  /** Every session, each with `id` set to its private id (the sid is not stored). */
  override all(callback: Callback<SessionData[]>): void;
  override all(): Promise<SessionData[]>;
  override all(callback?: Callback<SessionData[]>): Promise<SessionData[]> | void {
    const collect = async () => {
      const out: SessionData[] = [];
      for await (const { privateId, session } of this.#streamSessions()) out.push({ ...session, id: privateId } as SessionData);
      return out;
    };
    return respond(collect(), callback);
  }

  /** The private ids of every session. They address storage, and cannot be used as cookies. */
  ids(callback: Callback<string[]>): void;
  ids(): Promise<string[]>;
  ids(callback?: Callback<string[]>): Promise<string[]> | void {
    const collect = async () => {
      const out: string[] = [];
      for await (const hexes of this.scanSessions()) out.push(...hexes.map(privateIdOfHex));
      return out;
    };
    return respond(collect(), callback);
  }

  override length(callback: Callback<number>): void;
  override length(): Promise<number>;
  override length(callback?: Callback<number>): Promise<number> | void {
    const count = async () => {
      let n = 0;
      for await (const hexes of this.scanSessions()) n += hexes.length;
      return n;
    };
    return respond(count(), callback);
  }

  /** Delete every session under the prefix, with its index entry and stats. */
  override clear(callback: Callback<void>): void;
  override clear(): Promise<void>;
  override clear(callback?: Callback<void>): Promise<void> | void {
    const wipe = async () => {
      for await (const hexes of this.scanSessions()) await this.#destroy(hexes, 0);
    };
    return respond(wipe(), callback);
  }

  /**
   * express-session builds `req.session` from what `get` returned; the store keeps what
   * that read learnt beside it (see `Loaded`).
   */
  override createSession(req: Request, session: SessionData) {
    const info = loaded.get(session);
    const created = super.createSession(req, session);
    if (info) loaded.set(created, info);
    return created;
  }

  // ---- the extra API ---------------------------------------------------------------------

  /** The session of a cookie's sid, or null. Corrupt payloads are a miss (logged, removed). */
  async findSession(sid: string): Promise<SessionData | null> {
    const hex = privateHex(sid);
    const reply = await this.#source.run((c) => this.#read(c, this.#keys.session(hex)));
    if (reply === null) {
      const legacy = (await this.#legacy?.read(sid, hex, (raw, serializer) => this.#decodeLegacy(raw, serializer))) ?? null;
      if (legacy) loaded.set(legacy, { sid, hex, expiresAt: undefined, legacy: true });
      return legacy;
    }
    const session = await this.#decodeReply(hex, reply);
    if (session && reply !== NOT_A_SESSION) loaded.set(session, { sid, hex, expiresAt: reply[1], legacy: false });
    return session;
  }

  /** The raw stored payload (string, or Buffer for binary serializers), not parsed. */
  async peekSession(sid: string): Promise<string | Buffer | null> {
    const key = this.#keys.session(privateHex(sid));
    const reply = await this.#source.run((c) => this.#read(c, key));
    if (reply === null || reply === NOT_A_SESSION) return null;
    return this.#serializer.binary ? reply[0] : reply[0].toString("utf8");
  }

  /** Several sessions in one round trip; duplicates are read once. Keyed by the sid given. */
  async findSessions(sids: readonly string[]): Promise<Map<string, SessionData | null>> {
    const unique = [...new Set(sids)];
    const hexes = unique.map((sid) => privateHex(sid));
    const replies = await this.#source.run((c) => Promise.all(hexes.map((hex) => this.#read(c, this.#keys.session(hex)))));
    const found = await Promise.all(replies.map((reply, i) => (reply === null ? null : this.#decodeReply(hexes[i]!, reply))));
    return new Map(unique.map((sid, i) => [sid, found[i] ?? null]));
  }

  /** Destroy several sessions by sid in one round trip (plus the index follow-up on Cluster). */
  async deleteSessions(sids: readonly string[]): Promise<number> {
    const hexes = [...new Set(sids)].map((sid) => privateHex(sid));
    const [count] = await Promise.all([
      this.#destroy(hexes, this.#tombstoneMs),
      // Every sid was checked by privateHex above.
      this.#legacy?.remove(sids),
    ]);
    return count;
  }

  /**
   * Destroy sessions by private id (`2::hex` or the bare hex): what the manager and the CLI
   * hold. With `owner`, only sessions signed in as that user are destroyed.
   */
  async destroyByPrivateIds(privateIds: readonly string[], options: { owner?: string } = {}): Promise<number> {
    const hexes = [...new Set(privateIds.map(hexOfPrivateId))].filter((hex) => hex !== undefined);
    return this.#destroy(hexes, this.#tombstoneMs, options.owner === undefined ? "" : this.#keys.userIndex(options.owner));
  }

  /**
   * Metadata (`m`) and owner's index key (`u`) of sessions by private hex, in one round trip;
   * with `expiry`, also when each expires (a PTTL per session, in the same round trip).
   */
  async readMeta(hexes: readonly string[], options: { expiry?: boolean } = {}): Promise<Array<SessionRecord | null>> {
    if (hexes.length === 0) return [];
    const now = Date.now();
    return this.#source.run((c) =>
      Promise.all(
        hexes.map(async (hex) => {
          const key = this.#keys.session(hex);
          const [fields, pttl] = await Promise.all([
            c.hmget(key, "m", "u").catch(nullOnWrongType),
            options.expiry ? c.pttl(key) : undefined,
          ]);
          const [meta, index] = fields ?? [];
          if (pttl === -2 || (meta == null && index == null)) return null;
          const expiresAt = pttl === undefined ? undefined : new Date(pttl > 0 ? now + pttl : NEVER_EXPIRES_MS);
          return { meta: meta ?? null, index: index ?? null, expiresAt };
        }),
      ),
    );
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
    for await (const hexes of this.scanSessions()) {
      const replies = await this.#source.run((c) => Promise.all(hexes.map((hex) => this.#read(c, this.#keys.session(hex)))));
      for (let i = 0; i < hexes.length; i++) {
        const hex = hexes[i]!;
        const reply = replies[i];
        const session = reply === null || reply === undefined ? null : await this.#decodeReply(hex, reply);
        if (session) yield { privateId: privateIdOfHex(hex), session };
      }
    }
  }


  // ---- internals -------------------------------------------------------------------------

  /** One plain HMGET: no script on the hottest path (a script costs Redis several times more). */
  async #read(client: RedisClient, key: string): Promise<RawReply> {
    try {
      // Bytes, always: a payload may be compressed or MessagePack whatever the serializer now.
      const [payload, expiresAt] = await client.hmgetBuffer(key, "d", "e");
      if (payload == null) return null;
      return [payload, expiresAt == null ? undefined : Number(expiresAt.toString())];
    } catch (error) {
      if (isWrongType(error)) return NOT_A_SESSION;
      throw error;
    }
  }

  async #decodeReply(hex: string, reply: Exclude<RawReply, null>): Promise<SessionData | null> {
    if (reply === NOT_A_SESSION) return this.#discard(hex, "not a session hash");
    const session = this.#decode(reply[0]);
    if (session === CORRUPT) return this.#discard(hex, "unreadable payload");
    if (session === UNREADABLE_HERE) {
      this.#warnUnreadable();
      return null;
    }
    return session;
  }

  /**
   * Parse and check the shape express-session needs. `CORRUPT` for anything else;
   * `UNREADABLE_HERE` when the payload is fine but this process lacks its decoder (msgpackr):
   * a miss here, but the session is left for the processes that can read it.
   */
  #decode(raw: string | Buffer, serializer = this.#serializer): SessionData | typeof CORRUPT | typeof UNREADABLE_HERE {
    let value: unknown;
    try {
      value = serializer.parse(raw);
    } catch (error) {
      return error instanceof SerializerUnavailableError ? UNREADABLE_HERE : CORRUPT;
    }
    return isSessionShaped(value) ? value : CORRUPT;
  }

  #decodeLegacy(raw: string | Buffer, serializer: Serializer): SessionData | null {
    const session = this.#decode(raw, serializer);
    return session === CORRUPT || session === UNREADABLE_HERE ? null : session;
  }

  #warnedUnreadable = false;

  #warnUnreadable(): void {
    if (this.#warnedUnreadable) return;
    this.#warnedUnreadable = true;
    this.#logger?.warn(
      { reason: "msgpackr is not installed" },
      "rels-session: a session stored as MessagePack cannot be read by this process; treated as a miss, left in place",
    );
  }

  /** A corrupt session is a miss: logged once (it is removed), never thrown at the request. */
  async #discard(hex: string, reason: string): Promise<null> {
    this.#logger?.warn({ session: sessionHandle(hex), reason }, "rels-session: removed a corrupt session");
    await this.#destroy([hex], 0).catch(() => undefined);
    return null;
  }

  /** Write a session. `onlyIfAbsent`: move a plain-sid session without overwriting a newer save. */
  async #save(sid: string, session: SessionData, onlyIfAbsent = false): Promise<"written" | "refused" | "exists"> {
    const hex = this.#hexOf(sid, session);
    const ttlMs = this.#disableTTL ? 0 : this.#ttlMs(session);
    if (!this.#disableTTL && ttlMs <= 0) {
      // express-session's contract: saving an already expired session deletes it.
      await this.deleteSessions([sid]);
      return "refused";
    }
    const payload = this.#serializer.stringify(session);
    const bytes = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
    if (bytes > this.#maxPayloadBytes) throw new SessionPayloadTooLargeError(bytes, this.#maxPayloadBytes);

    const link = linkOf(session);
    const now = Date.now();
    const score = this.#disableTTL ? "+inf" : now + ttlMs;
    const meta = link ? JSON.stringify((session as unknown as Record<string, unknown>)[META_FIELD]) : "";
    const [outcome] = await Promise.all([
      this.#links.save(hex, link, payload, meta, ttlMs, score, now, onlyIfAbsent),
      this.#legacy?.besideWrite(sid),
    ]);
    // Mirroring costs a round trip of its own, and only during a mixed-version rollout.
    if (outcome === "written" && this.#legacy?.mirrors) await this.#legacy.mirror(sid, session, ttlMs);
    return outcome;
  }

  async #touch(sid: string, session: SessionData): Promise<void> {
    if (this.#disableTouch || this.#disableTTL) return;
    const ttlMs = this.#ttlMs(session);
    if (ttlMs <= 0) {
      await this.deleteSessions([sid]);
      return;
    }
    // A session still living under its plain-sid key has no private key to extend: move it,
    // unless a concurrent request already did (its save is newer than this copy).
    const info = loaded.get(session);
    if (info?.legacy && (await this.#save(sid, session, true)) !== "exists") return;
    const now = Date.now();
    const known = info?.sid === sid ? info.expiresAt : undefined;
    if (known !== undefined && now + ttlMs - known < this.#touchAfterMs(ttlMs)) return;
    await this.#links.touch(this.#hexOf(sid, session), ttlMs, now);
  }

  /** The private hex of `sid`, from the read of this session when there was one (no second hash). */
  #hexOf(sid: string, session: SessionData): string {
    const info = loaded.get(session);
    return info?.sid === sid ? info.hex : privateHex(sid);
  }

  /** Every destroy goes through here; `ownerIndex` limits it to sessions that index owns. */
  async #destroy(hexes: readonly string[], tombstoneMs: number, ownerIndex = ""): Promise<number> {
    if (hexes.length === 0) return 0;
    // While plain-sid copies may exist, a tombstone must outlive them: see LegacyMigration.read.
    return this.#links.destroy(hexes, tombstoneMs, ownerIndex, tombstoneMs > 0 && this.#legacy !== undefined);
  }

  /** Whole milliseconds (Redis takes no fractions); a ttl that is not a number is refused. */
  #ttlMs(session: SessionData): number {
    const expires = session?.cookie?.expires;
    const ms =
      typeof this.#ttl === "function"
        ? this.#ttl(session) * 1000
        : expires
          ? new Date(expires).getTime() - Date.now()
          : this.#ttl * 1000;
    if (Number.isNaN(ms) || ms > MAX_TTL_MS) {
      throw new RelsSessionError("The session's lifetime is not a number of at most 100 years (check `ttl` and cookie.expires)");
    }
    return Math.ceil(ms);
  }

  #touchAfterMs(ttlMs: number): number {
    if (this.#touchAfter !== "auto") return this.#touchAfter * 1000;
    return Math.min(ttlMs * DEFAULTS.autoTouchFraction, DEFAULTS.autoTouchMaxMs);
  }

  /**
   * The private hex of every session, one SCAN page (COUNT `count`, default `scanCount`) at a
   * time, over every master: at most one page in memory.
   */
  async *scanSessions(count = this.#scanCount): AsyncGenerator<string[]> {
    const pattern = this.#keys.sessionPattern();
    for (const node of await this.#source.masters()) {
      let cursor = "0";
      do {
        const [next, keys] = await this.#source.run(() => node.scan(cursor, "MATCH", pattern, "COUNT", count));
        cursor = next;
        const hexes = keys.map((key) => this.#keys.hexOfSessionKey(key)).filter((hex) => hex !== undefined);
        if (hexes.length > 0) yield hexes;
      } while (cursor !== "0");
    }
  }
}

/** Callback if given (errors go to it, never to an unhandled rejection), else the promise. */
function respond<T>(promise: Promise<T>, callback: Callback<T> | undefined): Promise<T> | void {
  if (!callback) return promise;
  promise.then(
    (value) => callback(null, value),
    (error: unknown) => callback(error),
  );
}
