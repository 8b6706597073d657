import { CLIENT_PLATFORMS, type ClientPlatform } from "../record/platforms.js";
import type { SessionRecords } from "../record/records.js";
import { recordsOf, type DataLayerStore } from "../record/of-store.js";

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
 * by the expiry they are filed under, kept in step by the data layer. Reading prunes expired
 * members first, so the totals follow TTL expiry without a scan (within the filing slack:
 * a tenth of a session's lifetime, at most an hour); `reconcile` exists for data written by
 * other tools or before an upgrade.
 */
export class SessionStats {
  readonly #records: SessionRecords;

  constructor(store: DataLayerStore) {
    this.#records = recordsOf(store);
  }

  /** One round trip, whatever the number of sessions. */
  async totals(): Promise<StatsTotals> {
    const { updatedAt, buckets } = await this.#records.bucketCounts();
    // No prototype: an app named "__proto__" or "toString" counts like any other.
    const byApplication: Record<string, number> = Object.create(null) as Record<string, number>;
    const byPlatform = Object.fromEntries(CLIENT_PLATFORMS.map((p) => [p, 0])) as Record<
      ClientPlatform,
      number
    >;
    let totalSessions = 0;
    for (const { applicationName, platform, count } of buckets) {
      totalSessions += count;
      byApplication[applicationName] = (byApplication[applicationName] ?? 0) + count;
      if (Object.hasOwn(byPlatform, platform)) byPlatform[platform as ClientPlatform] += count;
    }
    return {
      totalSessions,
      lastUpdatedAt: updatedAt === null ? null : new Date(updatedAt),
      byApplication,
      byPlatform,
    };
  }

  /**
   * Rebuild the counters from the sessions themselves: drop every bucket, rescan every
   * master, file each signed-in session again. Sessions written while it runs are counted by
   * their own write; sessions revoked while it runs are not counted.
   */
  async reconcile(options: ReconcileOptions = {}): Promise<StatsTotals> {
    await this.#records.reconcileStats(options.onProgress);
    return this.totals();
  }
}
