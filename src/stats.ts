import { CLIENT_PLATFORMS, type ClientPlatform } from "./meta.js";
import { nullOnWrongType } from "./redis/wrong-type.js";
import type { RelsRedisStore } from "./store.js";

export interface StatsTotals {
  /** Live signed-in sessions (those a `SessionsManager` recorded). */
  readonly totalSessions: number;
  /** When a counter last changed; null before the first signed-in session. */
  readonly lastUpdatedAt: Date | null;
  readonly byApplication: Readonly<Record<string, number>>;
  readonly byPlatform: Readonly<Record<ClientPlatform, number>>;
}

export interface ReconcileOptions {
  /** Called after each page with the number of sessions seen so far. */
  onProgress?: (scanned: number) => void;
}

/**
 * Live counters. Each (application, platform) pair is a sorted set of session ids scored
 * by expiry, kept in step by the store's scripts. Reading prunes expired members first, so
 * the totals follow TTL expiry without a scan and never drift; `reconcile` exists for data
 * written by other tools or before an upgrade.
 */
export class SessionStats {
  readonly #store: RelsRedisStore;

  constructor(store: RelsRedisStore) {
    this.#store = store;
  }

  /** One round trip, whatever the number of sessions. */
  async totals(): Promise<StatsTotals> {
    const keys = this.#store.keys;
    const flat = await this.#store.source.run((c) => c.relsStatsTotals(keys.statsRegistry(), keys.statsUpdated(), Date.now()));
    const byApplication = Object.create(null) as Record<string, number>; // app names such as "__proto__" are plain keys
    const byPlatform = Object.fromEntries(CLIENT_PLATFORMS.map((p) => [p, 0])) as Record<ClientPlatform, number>;
    let totalSessions = 0;
    for (let i = 1; i + 1 < flat.length; i += 2) {
      const bucket = keys.parseStatsBucket(String(flat[i]));
      const count = Number(flat[i + 1]);
      if (!bucket) continue;
      totalSessions += count;
      byApplication[bucket.applicationName] = (byApplication[bucket.applicationName] ?? 0) + count;
      if (bucket.platform in byPlatform) byPlatform[bucket.platform as ClientPlatform] += count;
    }
    const updated = flat[0];
    return { totalSessions, lastUpdatedAt: updated ? new Date(Number(updated)) : null, byApplication, byPlatform };
  }

  /**
   * Rebuild the counters from the sessions themselves: drop every bucket, rescan every
   * master, re-add each signed-in session with its remaining TTL. Sessions written while
   * it runs are counted by their own write.
   */
  async reconcile(options: ReconcileOptions = {}): Promise<StatsTotals> {
    const keys = this.#store.keys;
    const source = this.#store.source;
    await source.run(async (c) => {
      const buckets = await c.smembers(keys.statsRegistry());
      await Promise.all([...buckets.map((b) => c.del(b)), c.del(keys.statsRegistry())]);
    });
    let scanned = 0;
    for await (const hexes of this.#store.scanSessions()) {
      const now = Date.now();
      const links = await source.run((c) =>
        Promise.all(
          hexes.map((hex) => Promise.all([c.hget(keys.session(hex), "b").catch(nullOnWrongType), c.pttl(keys.session(hex))])),
        ),
      );
      await source.run((c) =>
        Promise.all(
          links.flatMap(([bucket, pttl], i) =>
            // pttl -2: the session ended between the two reads; nothing to count.
            bucket && pttl !== -2
              ? [c.relsStatsLink(bucket, keys.statsRegistry(), keys.statsUpdated(), "put", hexes[i]!, pttl > 0 ? now + pttl : "+inf", now)]
              : [],
          ),
        ),
      );
      scanned += hexes.length;
      options.onProgress?.(scanned);
    }
    return this.totals();
  }
}
