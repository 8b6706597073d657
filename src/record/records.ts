import { RevocationNotReplicatedError, SessionWriteRefusedError } from "../errors.js";
import { Cluster, ReplyError } from "ioredis";
import type { RedisClient, RedisSource } from "../redis/source.js";
import { isWrongType, nullOnWrongType } from "../redis/wrong-type.js";
import {
  LAYOUT2_FIELDS,
  decodeLayout2,
  decodeRecord,
  encodeRecord,
  fixedNumber,
  CORRUPT,
  type ReadResult,
  type RecordHeader,
  type StoredRecord,
} from "./format.js";
import { type Keys, NEVER_EXPIRES_MS } from "./keys.js";
import { topologyOf, type Topology } from "./topology.js";
import { TUNABLES } from "../tunables.js";
import { filingHolds, filingScore, lifetimeWithin, refileDue, refiledSince, type Filing } from "./filing.js";
import { RecordScans, type IndexEntry } from "./scans.js";
import { defineScripts } from "./scripts.js";
import { DurableRevocation, type DurableRevocationOptions } from "./durable-revocation.js";
import { STORED_META, type WriteOutcome, type WriteRequest } from "./write-request.js";

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
  readonly durableRevocation: DurableRevocationOptions;
}

/**
 * The data layer: the one owner of the session record in Redis.
 *
 * It knows the stored layout (format.ts), the keys (keys.ts), the scripts (scripts.ts) and
 * the difference between a standalone server, where one script changes a session with its
 * index entry and stats atomically, and Cluster, where the index and stats live in other
 * slots and are changed by follow-ups (topology.ts). Callers pass objects and get typed
 * results; nothing above this module builds a key or packs a script's arguments. Beside it:
 * the filing score (filing.ts), the work over many sessions (scans.ts), durable revocation
 * (durable-revocation.ts), a write's request and outcome (write-request.ts).
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
  readonly #durable: DurableRevocation;
  readonly #scans: RecordScans;

  constructor(source: RedisSource, keys: Keys, options: SessionRecordsOptions) {
    this.#source = source;
    this.#keys = keys;
    this.#options = options;
    this.#maxSessionsPerUser = options.maxSessionsPerUser;
    this.#topology = topologyOf(source, keys);
    this.#scans = new RecordScans(source, keys, options.scanCount, (hexes) => this.readMany(hexes));
    // The scripts below run on every client the source has or makes.
    source.prepare(defineScripts);
    this.#durable = new DurableRevocation(source, options.durableRevocation);
  }

  /** The channel this store's revocation events go out on (its scope and database). */
  get revocationChannel(): string {
    return this.#keys.revocationChannel(this.#source.database);
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
    const { hex, payload, link, condition, previous, now, plain, meta, deadline } = request;
    const keys = this.#keys;
    const index = link ? keys.userIndex(link.userId) : "";
    const bucket = link ? keys.statsBucket(link.applicationName, link.clientPlatform, hex) : "";
    const ttlMs = lifetimeWithin(request.ttlMs, deadline, now);
    // Past its deadline: never written (a write without a TTL would outlive it).
    if (deadline > 0 && ttlMs <= 0) return Promise.resolve(undefined);
    const expiresAt = ttlMs > 0 ? now + ttlMs : undefined;
    const expiry = expiresAt ?? NEVER_EXPIRES_MS;
    const filing = { index, bucket, plain, expiresAt, expiry, ttlMs, deadline };
    if (condition === "exists" && previous !== undefined && filingHolds(previous, filing)) {
      const header = { expiresAt, score: previous.score, deadline, index, bucket, plain };
      const key = keys.session(hex);
      return this.#source
        .run(
          (c) => plainSetGet(c, key, encodeRecord(header, payload, meta), ttlMs, endsAt(deadline, expiresAt)),
          key,
        )
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
    filing: Filing,
    leaving?: { readonly index: string; readonly bucket: string },
  ): Promise<WriteOutcome> {
    const { hex, payload, link, condition, now } = request;
    const { index, bucket, plain, expiresAt, expiry, ttlMs, deadline } = filing;
    const keys = this.#keys;
    const score = index === "" && bucket === "" ? 0 : filingScore(expiry, ttlMs, deadline);
    const header: RecordHeader = { expiresAt, score, deadline, index, bucket, plain };
    const filed = { index, bucket, score, deadline };
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
            this.revocationChannel,
            endsAt(deadline, expiresAt),
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
   * Neither the expiry nor the filing passes the session's deadline (`known`'s, and the
   * script checks the stored one): a session at or past it is not extended (false).
   */
  async touch(hex: string, lifetimeMs: number, now: number, known?: RecordHeader): Promise<boolean> {
    let deadline = known?.deadline ?? 0;
    let ttlMs = lifetimeWithin(lifetimeMs, deadline, now);
    if (ttlMs <= 0) return false;
    let expiresAt = now + ttlMs;
    let score = filingScore(expiresAt, ttlMs, deadline);
    const topology = this.#topology;
    let filed = { index: "", bucket: "" };
    if (
      !topology.cascades &&
      known &&
      (known.index || known.bucket) &&
      refileDue(known.score, expiresAt, score)
    ) {
      filed = { index: known.index, bucket: known.bucket };
      await topology.fileFirst({ hex, filed: { ...filed, score, deadline }, cap: 0, now });
    }
    for (let attempt = 0; ; attempt++) {
      const reply = await this.#touchScript(hex, ttlMs, expiresAt, score, now, filed);
      if (reply[0] === 0) {
        if (filed.index || filed.bucket) await topology.unfile({ hex, filed: { ...filed, score }, now });
        return false;
      }
      if (reply[0] === 1) {
        // Layout 2 is refiled after the script.
        if (reply[3] === 1 && !topology.cascades && !filed.index && !filed.bucket) {
          await topology.fileFirst({
            hex,
            filed: { index: reply[1], bucket: reply[2], score, deadline },
            cap: 0,
            now,
          });
        }
        return true;
      }
      // {3}: filed elsewhere than we thought (or not known): file where it says, then again.
      if (filed.index || filed.bucket) await topology.unfile({ hex, filed: { ...filed, score }, now });
      // Relinked twice meanwhile: leave it unextended (its filing still covers its expiry).
      if (attempt > 0) return true;
      // The stored deadline, which the header this call was given (if any) may not have had.
      if (reply[3] > 0 && reply[3] !== deadline) {
        deadline = reply[3];
        ttlMs = lifetimeWithin(lifetimeMs, deadline, now);
        if (ttlMs <= 0) return false;
        expiresAt = now + ttlMs;
        score = filingScore(expiresAt, ttlMs, deadline);
      }
      filed = { index: reply[1], bucket: reply[2] };
      await topology.fileFirst({ hex, filed: { ...filed, score, deadline }, cap: 0, now });
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
   * (`announceCleared` tells every session's end at once). With `pastDeadline` (the lifetime
   * sweep's time) only sessions whose header deadline is at or before it are revoked, checked in
   * the same script. `apart`: on the connection of its own (`runBlocking`), so no request
   * queues behind a batch (the lifetime sweep's pages).
   */
  async destroy(
    hexes: readonly string[],
    options: {
      owner?: string | undefined;
      revoke?: boolean;
      reason?: RevocationReason;
      pastDeadline?: number;
      apart?: boolean;
    } = {},
  ): Promise<number> {
    if (hexes.length === 0) return 0;
    const keys = this.#keys;
    const owner = options.owner === undefined ? "" : keys.userIndex(options.owner);
    const revoke = options.revoke ?? true;
    const reason = options.reason ?? "destroy";
    const channel = revoke && reason !== "clear" ? this.revocationChannel : "";
    const markerMs = this.#options.revokedMarkerMs;
    const now = Date.now();
    const cascade = this.#topology.cascades;
    const durable = await this.#durable.required();
    // A durable revocation waits for a replica on a connection of its own (`WAIT` holds its
    // connection until the replica answers or the timeout): other requests never queue behind it.
    const key = hexes.length === 1 ? keys.session(hexes[0]!) : undefined;
    const run = <T>(operation: (client: RedisClient) => Promise<T>) =>
      durable || options.apart ? this.#source.runBlocking(operation) : this.#source.run(operation, key);
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
            options.pastDeadline ?? "",
          ),
        ),
      );
    const waitFor = (c: RedisClient) => this.#durable.waitFor(c, sessionKeys);
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
    if (acked.some((n) => n < 1)) throw new RevocationNotReplicatedError(revoked, this.#durable.timeoutMs);
    return revoked;
  }

  /**
   * Tell the scope's subscribers that every session was revoked (`store.clear()`): one event
   * instead of one per session. A plain `PUBLISH` (on Cluster it reaches every node).
   */
  async announceCleared(): Promise<void> {
    const channel = this.revocationChannel;
    // As in the scripts: an ACL user without the channel's permission loses the event only.
    await this.#source
      .run((c) => c.publish(channel, "1\tclear\t\t\t"))
      .catch((error: unknown) => {
        if (!(error instanceof Error && /NOPERM/.test(error.message))) throw error;
      });
  }

  /**
   * Which of these sessions still exist: one `EXISTS` each (each its own slot), a page per round
   * trip (`TUNABLES.record.recheckPageSize`), pages one after another.
   */
  async existing(hexes: readonly string[]): Promise<boolean[]> {
    const keys = this.#keys;
    const page = TUNABLES.record.recheckPageSize;
    const out: boolean[] = [];
    for (let start = 0; start < hexes.length; start += page) {
      const some = hexes.slice(start, start + page);
      const found = await this.#source.run((c) =>
        Promise.all(some.map((hex) => c.exists(keys.session(hex)))),
      );
      for (const n of found) out.push(n > 0);
    }
    return out;
  }

  /**
   * Learn (at most every 10 s) whether revocations must wait for a replica, so a caller can
   * ask in the same round trip as its own first read (the manager does, with the index).
   */
  async prepareRevocation(): Promise<void> {
    await this.#durable.required();
  }

  // ---- many sessions (scans.ts) ----------------------------------------------------------

  /** The private hex of every session, a SCAN page at a time (`RecordScans#scan`). */
  scan(count?: number): AsyncGenerator<string[]> {
    return this.#scans.scan(count);
  }

  /** The keys matching `pattern`, a SCAN page at a time over every master (`RecordScans#scanKeys`). */
  scanKeys(
    pattern: string,
    options?: { count?: number; maxPagesPerMaster?: number },
  ): AsyncGenerator<string[]> {
    return this.#scans.scanKeys(pattern, options);
  }

  /** A page of a user's index, latest expiry first (`RecordScans#indexPage`). */
  indexPage(userId: string, offset?: number, count?: number): Promise<IndexEntry[]> {
    return this.#scans.indexPage(userId, offset, count);
  }

  /** Remove entries whose sessions are gone or filed elsewhere (`RecordScans#dropIndexEntries`). */
  dropIndexEntries(userId: string, hexes: readonly string[]): Promise<void> {
    return this.#scans.dropIndexEntries(userId, hexes);
  }

  /** Whether `record` is filed under `userId`'s index (`RecordScans#isFiledUnder`). */
  isFiledUnder(record: StoredRecord, userId: string): boolean {
    return this.#scans.isFiledUnder(record, userId);
  }

  /** Live sessions per stats bucket (`RecordScans#bucketCounts`). */
  bucketCounts(): ReturnType<RecordScans["bucketCounts"]> {
    return this.#scans.bucketCounts();
  }

  /** Rebuild the stats buckets from the sessions themselves (`RecordScans#reconcileStats`). */
  reconcileStats(onProgress?: (scanned: number) => void): Promise<void> {
    return this.#scans.reconcileStats(onProgress);
  }

  /** Cluster, after a failover: file every signed-in session again (`RecordScans#repairFilings`). */
  repairFilings(onProgress?: (scanned: number) => void): Promise<boolean> {
    return this.#scans.repairFilings(onProgress);
  }

  // ---- internals ------------------------------------------------------------------------

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

/**
 * `SET … XX GET`: the save of a session read or written through this object, only while it
 * exists; the record it replaced comes back (null: nothing was written).
 */
/**
 * When the record ends, for a write whose lifetime ends at the deadline (it was the bound): a
 * grace past it (`TUNABLES.record.lifetimeGraceMs`), unreadable from the deadline on, so the
 * lifetime sweep can revoke it with its event; else 0. Redis is given the time itself (PXAT),
 * by Redis's clock, not `ttlMs` after the command arrives (a loaded process or a slow network
 * would add to it).
 */
function endsAt(deadline: number, expiresAt: number | undefined): number {
  return deadline > 0 && expiresAt === deadline ? deadline + TUNABLES.record.lifetimeGraceMs : 0;
}

function plainSetGet(
  client: RedisClient,
  key: string,
  value: string | Buffer,
  ttlMs: number,
  at: number,
): Promise<Buffer | null> {
  if (at > 0) return client.setBuffer(key, value, "PXAT", at, "XX", "GET");
  return ttlMs > 0
    ? client.setBuffer(key, value, "PX", ttlMs, "XX", "GET")
    : client.setBuffer(key, value, "XX", "GET");
}

export { CORRUPT, type ReadResult, type RecordHeader, type StoredRecord } from "./format.js";
export type { IndexEntry } from "./scans.js";
export { STORED_META, type WriteCondition, type WriteOutcome, type WriteRequest } from "./write-request.js";
