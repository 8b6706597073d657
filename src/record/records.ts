import { RevocationNotReplicatedError, SessionWriteRefusedError } from "../errors.js";
import calculateSlot from "cluster-key-slot";
import { Cluster, ReplyError, type Redis } from "ioredis";
import type { RedisClient, RedisSource } from "../redis/pool.js";
import { isWrongType, nullOnWrongType } from "../redis/wrong-type.js";
import {
  LAYOUT2_FIELDS,
  decodeLayout2,
  decodeRecord,
  encodeRecord,
  fixedNumber,
  type RecordHeader,
  type StoredRecord,
} from "./format.js";
import { type Keys, NEVER_EXPIRES_MS } from "./keys.js";
import type { SessionLink } from "./link.js";
import { topologyOf, type Topology } from "./topology.js";
import { defineScripts } from "./scripts.js";
import { TUNABLES } from "../tunables.js";

/** What a read finds: a record, nothing, or something that is not a session record. */
export type ReadResult = StoredRecord | null | typeof CORRUPT;
export const CORRUPT = Symbol("not a session record");

/**
 * When a write may land:
 * - `"exists"`: the session was read or written through this object; if it is gone
 *   (revoked, destroyed, expired) the write is refused, however long the request ran;
 * - `"absent"`: only where there is no session and no revocation (moving a plain-sid session);
 * - `"new"`: a session object this process cannot place (one the request created, or a
 *   framework's copy of one it read): refused while the session's revocation marker lives,
 *   and, where there is no session, created only if its cookie was issued recently (`bornMs`).
 */
export type WriteCondition = "exists" | "absent" | "new";

export interface WriteRequest {
  readonly hex: string;
  readonly payload: string | Buffer;
  /** Lifetime in whole ms; 0 for a session that never expires. */
  readonly ttlMs: number;
  /** Whose session it is (signed in), or undefined (anonymous). */
  readonly link: SessionLink | undefined;
  readonly condition: WriteCondition;
  /** The header the session was read (or last written) with: when its filing still holds, no script runs. */
  readonly previous: RecordHeader | undefined;
  /** Its plain-sid copy's key, while mirroring (`mirrorWrites`): a revocation ends that copy too. "" otherwise. */
  readonly plain: string;
  /** When the session's cookie was issued (ms since the epoch; 0: not known), for `"new"`. */
  readonly bornMs: number;
  /**
   * The metadata section (layout 4): JSON text, "" for none; undefined writes layout 3 (the
   * metadata, if any, is inside the payload).
   */
  readonly meta: string | undefined;
  /**
   * The caller does not know the session's metadata (a copy it cannot place): a stored
   * record that holds some is left as it is and the write answers `STORED_META`.
   */
  readonly keepMeta: boolean;
  readonly now: number;
}

/**
 * The header written; undefined when the write was refused (the session is gone or revoked);
 * `STORED_META` when nothing was written because the stored record holds metadata the
 * caller did not know (`keepMeta`): read it, and write again with it.
 */
export type WriteOutcome = RecordHeader | undefined | typeof STORED_META;
export const STORED_META = Symbol("the stored record holds metadata");

/**
 * Why a session was revoked, as its revocation event says (record/revocation-feed.ts):
 * - `"destroy"`: `store.destroy` (express-session's `req.session.destroy()` and `regenerate()`);
 * - `"logout"`: one of the manager's `logout*` calls;
 * - `"cap"`: pushed out by a sign-in beyond `maxSessionsPerUser`;
 * - `"clear"`: `store.clear()`, announced once for every session of the scope;
 * - `"cli"`: the operators' `rels-session revoke`;
 * - `"lifetime"`: past its absolute lifetime.
 */
export type RevocationReason = "destroy" | "logout" | "cap" | "clear" | "cli" | "lifetime";

/** One entry of a user's index: a session's private hex and the expiry it is filed under. */
export interface IndexEntry {
  readonly hex: string;
  readonly expiresAt: Date;
}

export interface SessionRecordsOptions {
  /** COUNT hint of each SCAN page. */
  readonly scanCount: number;
  /** Signing in beyond this many sessions of one user revokes those filed to expire soonest. 0: no cap. */
  readonly maxSessionsPerUser: number;
  /**
   * The shortest a revocation marker lives (it also lives as long as its session had left):
   * at least `newSessionWindowMs`, and while migrating the longest a plain-sid copy may.
   */
  readonly revokedMarkerMs: number;
  /** A session no process can place is created only if its cookie was issued this recently. */
  readonly newSessionWindowMs: number;
  /**
   * Migrating from plain-sid keys: a revocation of a session with no private record still
   * leaves its marker, which ends its plain-sid copy.
   */
  readonly plainCopies: boolean;
  /**
   * Acknowledge a revocation only once a replica has it (`WAIT 1 <timeoutMs>`): on, off, or
   * "auto" (on while the master reports a connected replica, checked at most every 10 s).
   */
  readonly durableRevocation: { readonly mode: "auto" | "on" | "off"; readonly timeoutMs: number };
}

/**
 * The data layer: the one owner of the session record in Redis.
 *
 * It knows the stored layout (format.ts), the keys (keys.ts), the scripts (scripts.ts) and
 * the difference between a standalone server, where one script changes a session with its
 * index entry and stats atomically, and Cluster, where the index and stats live in other
 * slots and are changed by follow-ups (topology.ts). Callers pass objects and get typed
 * results; nothing above this module builds a key or packs a script's arguments.
 *
 * Revocation is decided by Redis: a session read or written through an object is saved from
 * it only while it exists (`SET … XX`, or the same check inside the script); any other write
 * is refused while the session's revocation marker lives, and creates a session only for a
 * cookie issued more recently than the marker's shortest life. No write of any request, from
 * any object, brings a revoked session back.
 */
export class SessionRecords {
  readonly #source: RedisSource;
  readonly #keys: Keys;
  readonly #options: SessionRecordsOptions;
  readonly #topology: Topology;
  #maxSessionsPerUser: number;
  #replicas: { readonly present: boolean; readonly at: number } | undefined;

  constructor(source: RedisSource, keys: Keys, options: SessionRecordsOptions) {
    this.#source = source;
    this.#keys = keys;
    this.#options = options;
    this.#maxSessionsPerUser = options.maxSessionsPerUser;
    this.#topology = topologyOf(source, keys);
    // The scripts below run on every client the source has or makes.
    source.prepare(defineScripts);
    if (options.durableRevocation.mode === "on") source.prepareBlocking();
  }

  get keys(): Keys {
    return this.#keys;
  }

  get source(): RedisSource {
    return this.#source;
  }

  get scanCount(): number {
    return this.#options.scanCount;
  }

  /** The per-user cap the write script enforces (0: none); a manager may set its own. */
  get maxSessionsPerUser(): number {
    return this.#maxSessionsPerUser;
  }

  set maxSessionsPerUser(cap: number) {
    this.#maxSessionsPerUser = cap;
  }

  // ---- one session ----------------------------------------------------------------------

  /** The record of a session: one GET (layout 2 hashes cost one more command, once). */
  read(hex: string): Promise<ReadResult> {
    return this.#source.run((c) => this.#read(c, hex), this.#keys.session(hex));
  }

  /** Several records in one round trip, in the order asked. */
  readMany(hexes: readonly string[]): Promise<ReadResult[]> {
    if (hexes.length === 0) return Promise.resolve([]);
    return this.#source.run((c) => Promise.all(hexes.map((hex) => this.#read(c, hex))));
  }

  /**
   * Write a session. The hot path is one plain `SET … PX … XX`: a session read (or written)
   * through this object, anonymous or signed in, whose owner, bucket and filing still hold.
   * Anything else runs the write script, which checks the revocation marker, files the
   * session under its owner's index and stats bucket, and enforces the per-user cap.
   * The hot path has no async frame of its own. Throws `SessionWriteRefusedError` for a
   * `"new"` write the store cannot tell from a revoked session's.
   */
  write(request: WriteRequest): Promise<WriteOutcome> {
    const { hex, payload, ttlMs, link, condition, previous, now, plain, meta } = request;
    const keys = this.#keys;
    const index = link ? keys.userIndex(link.userId) : "";
    const bucket = link ? keys.statsBucket(link.applicationName, link.clientPlatform, hex) : "";
    const expiresAt = ttlMs > 0 ? now + ttlMs : undefined;
    const expiry = expiresAt ?? NEVER_EXPIRES_MS;
    const filing = { index, bucket, plain, expiresAt, expiry };
    if (condition === "exists" && previous !== undefined && filingHolds(previous, filing, ttlMs)) {
      const header = { expiresAt, score: previous.score, index, bucket, plain };
      const key = keys.session(hex);
      return this.#source
        .run((c) => plainSetGet(c, key, encodeRecord(header, payload, meta), ttlMs), key)
        .then((replaced) => {
          if (replaced === null) return undefined;
          const left = refiledSince(replaced, previous);
          // Another request refiled the session between this one's read and its save (a relink,
          // a sign-out, a shorter lifetime): this save put the old filing back in the header, so
          // file it again, and leave the one the other request made. Rare: never on the hot path.
          return left ? this.#writeScripted(request, filing, left) : header;
        });
    }
    return this.#writeScripted(request, filing);
  }

  /**
   * A write that changes the session's filing, or that only the script may judge. On Cluster
   * the new index entry and stats count are filed first and the session written after, so a
   * follow-up that fails leaves no live unlisted session: a refused write takes them back out.
   */
  async #writeScripted(
    request: WriteRequest,
    filing: { index: string; bucket: string; plain: string; expiresAt: number | undefined; expiry: number },
    leaving?: { readonly index: string; readonly bucket: string },
  ): Promise<WriteOutcome> {
    const { hex, payload, ttlMs, link, condition, now } = request;
    const { index, bucket, plain, expiresAt, expiry } = filing;
    const keys = this.#keys;
    const score = index === "" && bucket === "" ? 0 : filingScore(expiry, ttlMs);
    const header: RecordHeader = { expiresAt, score, index, bucket, plain };
    const filed = { index, bucket, score };
    const topology = this.#topology;
    const cap = this.#maxSessionsPerUser;
    const victims = await topology.fileFirst({ hex, filed, cap, now });
    let reply: Awaited<ReturnType<RedisClient["relsWrite"]>>;
    try {
      reply = await this.#source.run(
        (c) =>
          c.relsWrite(
            keys.session(hex),
            encodeRecord(header, payload, request.meta),
            ttlMs,
            condition === "exists" ? "xx" : condition === "absent" ? "nx" : "new",
            hex,
            now,
            topology.cascades ? 1 : 0,
            index,
            bucket,
            fixedNumber(score),
            cap,
            keys.sessionKeyHead,
            keys.revoked(hex),
            keys.revokedKeyHead,
            this.#options.revokedMarkerMs,
            request.bornMs,
            this.#options.newSessionWindowMs,
            leaving ? 1 : 0,
            leaving?.index ?? "",
            leaving?.bucket ?? "",
            request.keepMeta ? 1 : 0,
            keys.revocationChannel(),
          ),
        keys.session(hex),
      );
    } catch (error) {
      // Redis answered no (out of memory, …): nothing was written. A timeout may have written
      // it: the entries stay (a reader prunes them if it was not).
      if (error instanceof ReplyError) await topology.unfile({ hex, filed, now }).catch(() => undefined);
      throw error;
    } finally {
      // Beyond the cap whatever this write's fate: the index no longer lists them.
      if (victims.length > 0 && link) await this.destroy(victims, { owner: link.userId, reason: "cap" });
    }
    // {2}: a concurrent request moved the plain-sid session first and filed it itself.
    if (reply[0] === 0 || reply[0] === 4) await topology.unfile({ hex, filed, now });
    if (reply[0] === 4) return STORED_META;
    if (reply[0] !== 1) {
      if (
        reply[0] === 0 &&
        condition === "new" &&
        request.bornMs > 0 &&
        now - request.bornMs > this.#options.newSessionWindowMs
      ) {
        throw new SessionWriteRefusedError(this.#options.newSessionWindowMs);
      }
      return undefined;
    }
    const [, oldIndex, oldBucket] = reply;
    await topology.afterWrite({ hex, old: leaving ?? { index: oldIndex, bucket: oldBucket }, filed, now });
    return header;
  }

  /**
   * Extend a session's expiry (never recreating it): PEXPIRE and the header's expiry
   * rewritten in place, the payload untouched (a concurrent save is never overwritten).
   * The index and stats are refiled when the new expiry passes the filed one, or when the
   * filing runs further ahead than the new lifetime's slack; on Cluster before the session is
   * extended (`known`, the header read, lets that happen in the same two round trips).
   */
  async touch(hex: string, ttlMs: number, now: number, known?: RecordHeader): Promise<boolean> {
    const expiresAt = now + ttlMs;
    const score = filingScore(expiresAt, ttlMs);
    const topology = this.#topology;
    let filed = { index: "", bucket: "" };
    if (
      !topology.cascades &&
      known &&
      (known.index || known.bucket) &&
      refileDue(known.score, expiresAt, score)
    ) {
      filed = { index: known.index, bucket: known.bucket };
      await topology.fileFirst({ hex, filed: { ...filed, score }, cap: 0, now });
    }
    for (let attempt = 0; ; attempt++) {
      const reply = await this.#touchScript(hex, ttlMs, expiresAt, score, now, filed);
      if (reply[0] === 0) {
        if (filed.index || filed.bucket) await topology.unfile({ hex, filed: { ...filed, score }, now });
        return false;
      }
      if (reply[0] === 1) {
        // Layout 2 refiles after the script, as it did.
        if (reply[3] === 1 && !topology.cascades && !filed.index && !filed.bucket) {
          await topology.fileFirst({ hex, filed: { index: reply[1], bucket: reply[2], score }, cap: 0, now });
        }
        return true;
      }
      // {3}: filed elsewhere than we thought (or not known): file where it says, then again.
      if (filed.index || filed.bucket) await topology.unfile({ hex, filed: { ...filed, score }, now });
      // Relinked twice meanwhile: leave it unextended (its filing still covers its expiry).
      if (attempt > 0) return true;
      filed = { index: reply[1], bucket: reply[2] };
      await topology.fileFirst({ hex, filed: { ...filed, score }, cap: 0, now });
    }
  }

  #touchScript(
    hex: string,
    ttlMs: number,
    expiresAt: number,
    score: number,
    now: number,
    filed: { index: string; bucket: string },
  ) {
    const keys = this.#keys;
    return this.#source.run(
      (c) =>
        c.relsTouch(
          keys.session(hex),
          ttlMs,
          fixedNumber(expiresAt),
          hex,
          now,
          fixedNumber(score),
          this.#topology.cascades ? 1 : 0,
          filed.index,
          filed.bucket,
        ),
      keys.session(hex),
    );
  }

  /**
   * Destroy sessions, each with its index entry and stats count; returns how many ended.
   * With `owner`, only sessions filed under that user's index are destroyed. A revocation
   * (the default) leaves each session's marker, so no later write creates it again, and
   * announces each session that existed on the scope's revocation channel with `reason` (in
   * the same script); `revoke: false` (an expired cookie saved, a corrupt record) leaves no
   * marker and announces nothing, and `reason: "clear"` announces nothing per session
   * (`announceCleared` tells every session's end at once).
   */
  async destroy(
    hexes: readonly string[],
    options: { owner?: string | undefined; revoke?: boolean; reason?: RevocationReason } = {},
  ): Promise<number> {
    if (hexes.length === 0) return 0;
    const keys = this.#keys;
    const owner = options.owner === undefined ? "" : keys.userIndex(options.owner);
    const revoke = options.revoke ?? true;
    const reason = options.reason ?? "destroy";
    const channel = revoke && reason !== "clear" ? keys.revocationChannel() : "";
    const markerMs = this.#options.revokedMarkerMs;
    const now = Date.now();
    const cascade = this.#topology.cascades;
    const durable = await this.#waitsForReplicas();
    const { timeoutMs } = this.#options.durableRevocation;
    // A durable revocation waits for a replica on a connection of its own (`WAIT` holds its
    // connection until the replica answers or the timeout): other requests never queue behind it.
    const key = hexes.length === 1 ? keys.session(hexes[0]!) : undefined;
    const run = <T>(operation: (client: RedisClient) => Promise<T>) =>
      durable ? this.#source.runBlocking(operation) : this.#source.run(operation, key);
    const sessionKeys = hexes.map((hex) => keys.session(hex));
    const destroyAll = (c: RedisClient) =>
      Promise.all(
        hexes.map((hex, i) =>
          c.relsDestroy(
            sessionKeys[i]!,
            hex,
            now,
            cascade ? 1 : 0,
            owner,
            revoke ? keys.revoked(hex) : "",
            markerMs,
            this.#options.plainCopies ? 1 : 0,
            channel,
            reason,
          ),
        ),
      );
    // WAIT counts the replicas that have every write of its own connection so far, so it goes
    // on the connection(s) the destroys went out on, behind them: in the same batch on one
    // server; on Cluster once they are answered (a destroy redirected by MOVED went to another
    // master than the slot map said when it was sent). A WAIT that fails (UNBLOCKED: the
    // master just became a replica) confirmed nothing.
    const waitFor = (c: RedisClient) =>
      Promise.all(connectionsOf(c, sessionKeys).map((node) => node.wait(1, timeoutMs).catch(() => 0)));
    const [replies, acked] = await run((c) =>
      !durable
        ? Promise.all([destroyAll(c), []])
        : c instanceof Cluster
          ? destroyAll(c).then(async (done) => [done, await waitFor(c)] as const)
          : Promise.all([destroyAll(c), waitFor(c)]),
    );
    await this.#topology.afterDestroy(
      replies.map(([, index, bucket, plain], i) => ({ hex: hexes[i]!, index, bucket, plain })),
      now,
    );
    const revoked = replies.reduce((n, [existed]) => n + existed, 0);
    // Even a destroy that found nothing is only final once a replica confirms what this
    // master holds: during a failover it may be the wrong master.
    if (acked.some((n) => n < 1)) throw new RevocationNotReplicatedError(revoked, timeoutMs);
    return revoked;
  }

  /**
   * Tell the scope's subscribers that every session was revoked (`store.clear()`): one event
   * instead of one per session. A plain `PUBLISH` (on Cluster it reaches every node).
   */
  async announceCleared(): Promise<void> {
    const channel = this.#keys.revocationChannel();
    // As in the scripts: an ACL user without the channel's permission loses the event only.
    await this.#source
      .run((c) => c.publish(channel, "1\tclear\t\t\t"))
      .catch((error: unknown) => {
        if (!(error instanceof Error && /NOPERM/.test(error.message))) throw error;
      });
  }

  /** Which of these sessions still exist: one `EXISTS` each, in one round trip (each its own slot). */
  async existing(hexes: readonly string[]): Promise<boolean[]> {
    if (hexes.length === 0) return [];
    const keys = this.#keys;
    const found = await this.#source.run((c) => Promise.all(hexes.map((hex) => c.exists(keys.session(hex)))));
    return found.map((n) => n > 0);
  }

  /**
   * Learn (at most every 10 s) whether revocations must wait for a replica, so a caller can
   * ask in the same round trip as its own first read (the manager does, with the index).
   */
  async prepareRevocation(): Promise<void> {
    await this.#waitsForReplicas();
  }

  async #waitsForReplicas(): Promise<boolean> {
    const { mode } = this.#options.durableRevocation;
    if (mode !== "auto") return mode === "on";
    const now = Date.now();
    if (this.#replicas && now - this.#replicas.at < TUNABLES.record.replicasCheckMs)
      return this.#replicas.present;
    const masters = await this.#source.masters();
    const infos = await this.#source.run(() => Promise.all(masters.map((node) => node.info("replication"))));
    const present = infos.every((info) => Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0) > 0);
    if (present && !this.#replicas?.present) this.#source.prepareBlocking();
    this.#replicas = { present, at: now };
    return present;
  }

  // ---- every session --------------------------------------------------------------------

  /**
   * The private hex of every session, one SCAN page (COUNT `count`) at a time, over every
   * master: at most one page in memory.
   */
  async *scan(count = this.#options.scanCount): AsyncGenerator<string[]> {
    for await (const found of this.scanKeys(this.#keys.sessionPattern(), { count })) {
      const hexes = found.map((key) => this.#keys.hexOfSessionKey(key)).filter((hex) => hex !== undefined);
      if (hexes.length > 0) yield hexes;
    }
  }

  /**
   * The keys matching `pattern`, one SCAN page at a time (empty pages included), over every
   * master; `maxPagesPerMaster` bounds a search. The one SCAN loop of the library.
   */
  async *scanKeys(
    pattern: string,
    options: { count?: number; maxPagesPerMaster?: number } = {},
  ): AsyncGenerator<string[]> {
    const count = options.count ?? this.#options.scanCount;
    const maxPages = options.maxPagesPerMaster ?? Number.POSITIVE_INFINITY;
    for (const node of await this.#source.masters()) {
      let cursor = "0";
      let pages = 0;
      do {
        const [next, found] = await this.#source.run(() =>
          node.scan(cursor, "MATCH", pattern, "COUNT", count),
        );
        cursor = next;
        pages += 1;
        yield found;
      } while (cursor !== "0" && pages < maxPages);
    }
  }

  // ---- a user's index -------------------------------------------------------------------

  /**
   * A page of a user's index, latest expiry first (for sessions of one lifetime: most
   * recently active first), expired entries pruned on the way. One round trip.
   */
  async indexPage(userId: string, offset = 0, count = -1): Promise<IndexEntry[]> {
    const index = this.#keys.userIndex(userId);
    const flat = await this.#source.run((c) => c.relsIndexRange(index, Date.now(), offset, count));
    const out: IndexEntry[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const score = Number(flat[i + 1]);
      out.push({
        hex: flat[i]!,
        expiresAt: new Date(Number.isFinite(score) ? Math.min(score, NEVER_EXPIRES_MS) : NEVER_EXPIRES_MS),
      });
    }
    return out;
  }

  /** Remove entries whose sessions are gone or filed elsewhere (what a reader found stale). */
  async dropIndexEntries(userId: string, hexes: readonly string[]): Promise<void> {
    if (hexes.length === 0) return;
    const index = this.#keys.userIndex(userId);
    await this.#source.run((c) => c.zrem(index, ...hexes));
  }

  /** Whether `record` is filed under `userId`'s index (a stale entry may name another's session). */
  isFiledUnder(record: StoredRecord, userId: string): boolean {
    return record.header.index === this.#keys.userIndex(userId);
  }

  // ---- stats ----------------------------------------------------------------------------

  /**
   * Live sessions per bucket, over every stats shard (0.2's included), expired members pruned
   * first: one round trip.
   */
  async bucketCounts(): Promise<{
    updatedAt: number | null;
    buckets: Array<{ applicationName: string; platform: string; count: number }>;
  }> {
    const keys = this.#keys;
    const now = Date.now();
    const shards = await this.#source.run((c) =>
      Promise.all(keys.statsShards().map((shard) => c.relsStatsTotals(shard.registry, shard.updated, now))),
    );
    const counts = new Map<string, { applicationName: string; platform: string; count: number }>();
    let updatedAt: number | null = null;
    for (const flat of shards) {
      const updated = flat[0];
      if (updated) updatedAt = Math.max(updatedAt ?? 0, Number(updated));
      for (let i = 1; i + 1 < flat.length; i += 2) {
        const bucket = keys.parseStatsBucket(String(flat[i]));
        if (!bucket) continue;
        const key = `${bucket.applicationName}\n${bucket.platform}`;
        const seen = counts.get(key);
        if (seen) seen.count += Number(flat[i + 1]);
        else counts.set(key, { ...bucket, count: Number(flat[i + 1]) });
      }
    }
    return { updatedAt, buckets: [...counts.values()] };
  }

  /**
   * Rebuild the stats buckets from the sessions themselves: drop every bucket, then rescan
   * every master and file each signed-in session again. Each page is filed only for
   * sessions that still exist after it was filed (a session revoked meanwhile is dropped
   * again), so a reconcile racing sign-outs leaves no phantom count.
   */
  async reconcileStats(onProgress?: (scanned: number) => void): Promise<void> {
    const keys = this.#keys;
    // UNLINK: a bucket holds up to a sixteenth of the signed-in sessions, and DEL frees it in
    // the one thread that serves every request (70 ms for 250,000 members).
    await this.#source.run((c) =>
      Promise.all(
        keys.statsShards().map(async ({ registry }) => {
          const buckets = await c.smembers(registry);
          await Promise.all([...buckets.map((b) => c.unlink(b)), c.unlink(registry)]);
        }),
      ),
    );
    await this.#refileAll({ index: false, onProgress });
  }

  /**
   * Cluster, after a failover: a master that died before its replica had the latest filings
   * took index entries and counts of live sessions with it. File every signed-in session
   * again, from its own header, raising entries and never lowering them (a concurrent
   * refiling wins). One process does it per failover (a lock of a minute); returns whether
   * this one did.
   */
  async repairFilings(onProgress?: (scanned: number) => void): Promise<boolean> {
    const lock = this.#keys.repairLock();
    const token = `${process.pid}:${Date.now()}:${Math.random()}`;
    const taken = await this.#source.run(
      (c) => c.set(lock, token, "PX", TUNABLES.record.repairLockMs, "NX"),
      lock,
    );
    if (taken !== "OK") return false;
    try {
      await this.#refileAll({ index: true, onProgress });
    } finally {
      // Released once done, so the next failover is repaired too; only if still ours (a repair
      // that outlived the lock's minute may have let another process take it).
      await this.#source
        .run(async (c) => ((await c.get(lock)) === token ? c.del(lock) : 0), lock)
        .catch(() => undefined);
    }
    return true;
  }

  /** Scan every master and file each signed-in session's count (and index entry) from its header. */
  async #refileAll(options: {
    index: boolean;
    onProgress?: ((scanned: number) => void) | undefined;
  }): Promise<void> {
    let scanned = 0;
    for await (const hexes of this.scan()) {
      const now = Date.now();
      const records = await this.readMany(hexes);
      const filed = records.flatMap((record, i) =>
        record && record !== CORRUPT && (record.header.bucket !== "" || record.header.index !== "")
          ? [
              {
                hex: hexes[i]!,
                index: options.index ? record.header.index : "",
                bucket: record.header.bucket,
                score: record.header.score || filingScore(NEVER_EXPIRES_MS, 0),
              },
            ]
          : [],
      );
      await this.#refile(filed, now);
      scanned += hexes.length;
      options.onProgress?.(scanned);
    }
  }

  // ---- internals ------------------------------------------------------------------------

  /**
   * File (raising scores only), then check each session still exists and take back the
   * entries of those that ended meanwhile.
   */
  async #refile(
    filed: ReadonlyArray<{ hex: string; index: string; bucket: string; score: number }>,
    now: number,
  ): Promise<void> {
    if (filed.length === 0) return;
    const keys = this.#keys;
    await this.#source.run((c) =>
      Promise.all(
        filed.flatMap(({ hex, index, bucket, score }) => [
          index ? c.relsIndexPut(index, hex, score, now, 0, 1) : undefined,
          bucket
            ? c.relsStatsPut(
                bucket,
                keys.statsShardOf(bucket).registry,
                keys.statsShardOf(bucket).updated,
                hex,
                score,
                now,
                1,
              )
            : undefined,
        ]),
      ),
    );
    const alive = await this.#source.run((c) =>
      Promise.all(filed.map(({ hex }) => c.exists(keys.session(hex)))),
    );
    const gone = filed.filter((_, i) => alive[i] === 0);
    if (gone.length === 0) return;
    await this.#source.run((c) =>
      Promise.all(
        gone.flatMap(({ hex, index, bucket }) => [
          index ? c.zrem(index, hex) : undefined,
          bucket ? c.relsStatsDrop(bucket, keys.statsShardOf(bucket).updated, hex, now) : undefined,
        ]),
      ),
    );
  }

  /** One GET; no async frame of its own (it is on every request's path). */
  #read(client: RedisClient, hex: string): Promise<ReadResult> {
    const key = this.#keys.session(hex);
    return client.getBuffer(key).then(
      (value) => (value === null ? null : (decodeRecord(value) ?? CORRUPT)),
      async (error: unknown) => {
        if (!isWrongType(error)) throw error;
        // Layout 2 (a hash) until its next write; any other type is not a session.
        const fields = await client.hmgetBuffer(key, ...LAYOUT2_FIELDS).catch(nullOnWrongType);
        return (fields && decodeLayout2(fields)) ?? CORRUPT;
      },
    );
  }
}

/** The score a session is filed under: its expiry plus a slack, so refiling is rare. */
function filingScore(expiry: number, ttlMs: number): number {
  if (expiry >= NEVER_EXPIRES_MS) return NEVER_EXPIRES_MS;
  return Math.min(
    NEVER_EXPIRES_MS,
    Math.ceil(
      expiry + Math.min(ttlMs * TUNABLES.record.filingSlackFraction, TUNABLES.record.filingSlackMaxMs),
    ),
  );
}

/**
 * Whether a write may keep the filing it was read with: same owner, bucket and plain copy, and
 * for a signed-in session a score that still covers the new expiry without running further
 * ahead than the new lifetime's slack (a shortened lifetime is refiled at once).
 */
function filingHolds(
  kept: RecordHeader,
  filing: { index: string; bucket: string; plain: string; expiry: number },
  ttlMs: number,
): boolean {
  if (kept.index !== filing.index || kept.bucket !== filing.bucket || kept.plain !== filing.plain)
    return false;
  return (
    (filing.index === "" && filing.bucket === "") ||
    !refileDue(kept.score, filing.expiry, filingScore(filing.expiry, ttlMs))
  );
}

/** A filing must be refreshed when the expiry passes it, or when it runs past the new score. */
function refileDue(score: number, expiry: number, newScore: number): boolean {
  return score < expiry || score > newScore;
}

/**
 * The connections the writes of `keys` went out on: the client itself, or the Cluster masters
 * that hold them (as its slot map says; a master it cannot name yet: all of them).
 */
function connectionsOf(client: RedisClient, keys: readonly string[]): Redis[] {
  if (!(client instanceof Cluster)) return [client];
  const masters = client.nodes("master");
  const owners = new Set(keys.map((key) => client.slots[calculateSlot(key)]?.[0]));
  const found = masters.filter((node) => owners.has(`${node.options.host}:${node.options.port}`));
  return owners.has(undefined) || found.length < owners.size ? masters : found;
}

/**
 * `SET … XX GET`: the save of a session read or written through this object, only while it
 * exists; the record it replaced comes back (null: nothing was written).
 */
function plainSetGet(
  client: RedisClient,
  key: string,
  value: string | Buffer,
  ttlMs: number,
): Promise<Buffer | null> {
  return ttlMs > 0
    ? client.setBuffer(key, value, "PX", ttlMs, "XX", "GET")
    : client.setBuffer(key, value, "XX", "GET");
}

/**
 * The filing a replaced record had, when another request changed it since `previous` was read
 * (owner, bucket, plain copy, or a lower score); undefined when it is the one read, or raised
 * only (a refile further ahead still covers the new expiry).
 */
function refiledSince(
  replaced: Buffer,
  previous: RecordHeader,
): { index: string; bucket: string } | undefined {
  const header = decodeRecord(replaced)?.header;
  if (header === undefined) return undefined;
  const same =
    header.index === previous.index && header.bucket === previous.bucket && header.plain === previous.plain;
  return same && header.score >= previous.score ? undefined : { index: header.index, bucket: header.bucket };
}

export { type RecordHeader, type StoredRecord } from "./format.js";
