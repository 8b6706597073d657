import { StoreBase } from "./session-types.js";
import type { SessionData } from "../record/session-data.js";
import type { Logger } from "../types.js";
import { privateHex, privateIdOfHex } from "../ids.js";
import { CORRUPT, type SessionRecords } from "../record/records.js";
import { metaOfSection, takeMetaField } from "../record/meta-section.js";
import { deadlineOfMeta } from "../record/link.js";
import type { RedisSource } from "../redis/source.js";
import type { SessionCodec } from "../record/codec/session-codec.js";
import type { DataLayer } from "../record/data-layer.js";
import { registerDataLayer } from "../record/of-store.js";
import { traced } from "../observability/channels.js";
import type { LegacyMigration } from "./legacy.js";
import { ReadMark, StoreReads } from "./read-mark.js";
import { StoreWrites } from "./store-writes.js";
import { buildStoreParts, type RelsRedisStoreOptions, type StoredSession } from "./store-options.js";
import { nothing, rejecting, respond, type Callback } from "./respond.js";

export type { RelsRedisStoreOptions, StoredSession } from "./store-options.js";

/**
 * express-session store on Redis: the adapter between express-session's callbacks and the
 * data layer (record/: the records and the codec, registered for the modules beside the store
 * in record/of-store.ts). It owns the TTL and touch policy (lifetime.ts), what a read learnt
 * (`ReadMark`, read-mark.ts), the writes (store-writes.ts) and the migration from plain-sid keys
 * (legacy.ts); its options build them (store-options.ts). Keys come from the private id
 * (`2::sha256(sid)`); the sid itself is never written anywhere (outside migration, where the
 * old store already did).
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
  readonly #logger: Logger | undefined;
  readonly #reads = new StoreReads(this);
  readonly #writes: StoreWrites;
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
    const parts = buildStoreParts(options, this.#reads);
    this.#source = parts.source;
    this.#ownSource = parts.ownSource;
    this.#records = parts.records;
    this.#codec = parts.codec;
    this.#layer = parts.layer;
    this.#legacy = parts.legacy;
    this.#logger = options.logger;
    registerDataLayer(this, this.#layer);
    this.#writes = new StoreWrites({ store: this, reads: this.#reads, ...parts });
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
      () => traced("set", { sid }, () => rejecting(() => this.#writes.save(sid, session)).then(nothing)),
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
      () => traced("touch", { sid }, () => rejecting(() => this.#writes.touch(sid, session))),
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
      this.#reads.clear();
      // One event for every session (not one per session): connections tied to any of them
      // close. Told after a failure too: the sessions revoked so far are gone.
      try {
        for await (const hexes of this.#records.scan()) await this.#writes.destroyRecords(hexes, "clear");
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
        // Redis keeps it a grace past its deadline, for the lifetime sweep to revoke it with its
        // event (record/lifetime-sweep.ts): from the deadline on it is a miss, revoked here first.
        if (record !== CORRUPT && record.header.deadline > 0 && record.header.deadline <= Date.now())
          return this.#writes.revokePastLifetime(hex);
        const session = this.#codec.decode(record);
        if (typeof session === "string") return this.#layer.discard(hex, session);
        if (session && record !== CORRUPT) {
          // Layouts 2 and 3 keep the metadata in the payload's `_rels`: it moves beside the session.
          const meta = record.meta === undefined ? takeMetaField(session) : metaOfSection(record.meta);
          // Layouts 2 and 3 have no deadline in their header (layout 4's was checked above): the
          // metadata's (a layout-3 writer's save of a session signed in with a lifetime) is
          // checked here, and kept with the header so this process's touches are capped by it.
          let { header } = record;
          if (record.meta === undefined) {
            const deadline = deadlineOfMeta(meta);
            if (deadline > 0 && deadline <= Date.now()) return this.#writes.revokePastLifetime(hex);
            if (deadline > 0) header = { ...header, deadline };
          }
          this.#reads.remember(session, {
            sid,
            hex,
            header,
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
    if (!legacy) return legacy;
    const meta = takeMetaField(legacy);
    // A plain copy outliving its private record (written by an older process) past the deadline.
    const deadline = deadlineOfMeta(meta);
    if (deadline > 0 && deadline <= Date.now()) return this.#writes.revokePastLifetime(hex);
    this.#reads.remember(legacy, { sid, hex, header: undefined, legacy: true, store: this, meta });
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
      records.map((record, i) => (record === null ? null : this.#layer.decodeListed(hexes[i]!, record))),
    );
    return new Map(unique.map((sid, i) => [sid, found[i] ?? null]));
  }

  /**
   * Destroy several sessions by sid in one round trip (plus the index follow-up on Cluster).
   * A revocation: a request of this process that read one of them cannot save it again,
   * even from a copy of the session it read.
   */
  async deleteSessions(sids: readonly string[]): Promise<number> {
    return this.#writes.deleteSessions(sids, "revoke");
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
      const now = Date.now();
      for (let i = 0; i < hexes.length; i++) {
        const hex = hexes[i]!;
        const record = records[i];
        // Past its deadline (kept a grace for the lifetime sweep): over, not listed.
        if (record && record !== CORRUPT && record.header.deadline > 0 && record.header.deadline <= now)
          continue;
        const session =
          record === null || record === undefined ? null : await this.#layer.decodeListed(hex, record);
        if (session) yield { privateId: privateIdOfHex(hex), session };
      }
    }
  }

  // ---- internals -------------------------------------------------------------------------

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
}
