import type { RedisSource } from "../redis/source.js";
import { TUNABLES } from "../tunables.js";
import { withScopeLock } from "./scope-lock.js";
import { CORRUPT, type ReadResult, type StoredRecord } from "./format.js";
import { filingScore } from "./filing.js";
import { type Keys, NEVER_EXPIRES_MS } from "./keys.js";

/** One entry of a user's index: a session's private hex and the expiry it is filed under. */
export interface IndexEntry {
  readonly hex: string;
  readonly expiresAt: Date;
}

/**
 * The data layer's work over many sessions: SCAN pages over every master, a user's index
 * pages, the stats buckets, and the rebuilds that file sessions again from their own headers
 * (reconcile, repair after a failover). `SessionRecords` offers these as its own methods.
 */
export class RecordScans {
  readonly #source: RedisSource;
  readonly #keys: Keys;
  readonly #scanCount: number;
  readonly #readMany: (hexes: readonly string[]) => Promise<ReadResult[]>;

  /** `readMany`: the records of several sessions in one round trip (`SessionRecords#readMany`). */
  constructor(
    source: RedisSource,
    keys: Keys,
    scanCount: number,
    readMany: (hexes: readonly string[]) => Promise<ReadResult[]>,
  ) {
    this.#source = source;
    this.#keys = keys;
    this.#scanCount = scanCount;
    this.#readMany = readMany;
  }

  // ---- every session --------------------------------------------------------------------

  /**
   * The private hex of every session, one SCAN page (COUNT `count`) at a time, over every
   * master: at most one page in memory.
   */
  async *scan(count = this.#scanCount): AsyncGenerator<string[]> {
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
    const count = options.count ?? this.#scanCount;
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
    // UNLINK: a bucket holds up to a sixteenth of the signed-in sessions, and DEL would free it
    // in the one thread that serves every request.
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
    // Released once done, so the next failover is repaired too.
    const repaired = await withScopeLock(
      (operation) => this.#source.run(operation, lock),
      lock,
      TUNABLES.record.repairLockMs,
      () => this.#refileAll({ index: true, onProgress }).then(() => true),
    );
    return repaired ?? false;
  }

  /** Scan every master and file each signed-in session's count (and index entry) from its header. */
  async #refileAll(options: {
    index: boolean;
    onProgress?: ((scanned: number) => void) | undefined;
  }): Promise<void> {
    let scanned = 0;
    for await (const hexes of this.scan()) {
      const now = Date.now();
      const records = await this.#readMany(hexes);
      const filed = records.flatMap((record, i) =>
        record && record !== CORRUPT && (record.header.bucket !== "" || record.header.index !== "")
          ? [
              {
                hex: hexes[i]!,
                index: options.index ? record.header.index : "",
                bucket: record.header.bucket,
                score: record.header.score || filingScore(NEVER_EXPIRES_MS, 0, record.header.deadline),
                deadline: record.header.deadline,
              },
            ]
          : [],
      );
      await this.#refile(filed, now);
      scanned += hexes.length;
      options.onProgress?.(scanned);
    }
  }

  /**
   * File (raising scores only), then check each session still exists and take back the
   * entries of those that ended meanwhile.
   */
  async #refile(
    filed: ReadonlyArray<{ hex: string; index: string; bucket: string; score: number; deadline: number }>,
    now: number,
  ): Promise<void> {
    if (filed.length === 0) return;
    const keys = this.#keys;
    await this.#source.run((c) =>
      Promise.all(
        filed.flatMap(({ hex, index, bucket, score, deadline }) => {
          const shard = bucket ? keys.statsShardOf(bucket) : undefined;
          return [
            index ? c.relsIndexPut(index, hex, score, now, 0, 1) : undefined,
            shard
              ? c.relsStatsPut(
                  bucket,
                  shard.registry,
                  shard.updated,
                  shard.deadlines,
                  hex,
                  score,
                  now,
                  1,
                  deadline,
                )
              : undefined,
          ];
        }),
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
          bucket
            ? c.relsStatsDrop(
                bucket,
                keys.statsShardOf(bucket).updated,
                keys.statsShardOf(bucket).deadlines,
                hex,
                now,
                1,
              )
            : undefined,
        ]),
      ),
    );
  }
}
