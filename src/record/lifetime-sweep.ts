/**
 * The lifetime sweep: a session that reaches its absolute deadline is revoked with its
 * `lifetime` event even when nobody reads it.
 *
 * What it rests on: a record whose lifetime ends at its deadline stays in Redis a grace past it
 * (`TUNABLES.record.lifetimeGraceMs`), unreadable (every read refuses it from the deadline on,
 * and its index entry and stats count end at the deadline); and each signed-in session with a
 * deadline is listed in its stats shard's deadline set (member: private hex, score: deadline),
 * written by the same scripts that file it (`stats_put`, record/scripts.ts). The stats buckets
 * cannot serve as the list: every filing prunes the entries whose score has passed.
 *
 * While a store has a revocation subscriber (someone to tell: `onRevoked`, `closeOnRevoke`), it
 * sweeps every `TUNABLES.record.sweepIntervalMs`, one process per scope at a time (a lock key):
 * each deadline set's entries at or before now, a page at a time, each revoked by the destroy
 * script with the check, in the same step, that its record still exists and its header deadline
 * has passed; that script publishes the event (reason `"lifetime"`). A session gone by its idle
 * timeout, or revoked otherwise, has no record: its entry leaves without a word. Two sweeps of
 * the same session (a lock that lapsed) publish once: the second finds no record.
 *
 * Not promised: a session whose deadline passes while no process of the scope sweeps for the
 * whole grace (no subscriber anywhere, Redis unreachable) leaves Redis silently, as before.
 */
import { TUNABLES } from "../tunables.js";
import type { SessionRecords } from "./records.js";
import { withScopeLock } from "./scope-lock.js";

const HEX = /^[0-9a-f]{64}$/;

export class LifetimeSweep {
  readonly #records: SessionRecords;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(records: SessionRecords) {
    this.#records = records;
  }

  /** Sweep every interval from now on (the timer does not keep the process alive). */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = true;
      // A failed sweep (Redis unreachable, a replica that did not confirm) is the next one's to do.
      void this.sweep()
        .catch(() => undefined)
        .finally(() => (this.#running = false));
    }, TUNABLES.record.sweepIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * One sweep at `now`: the sessions revoked, or undefined when another process of the scope
   * holds the sweep lock.
   */
  async sweep(now: number = Date.now()): Promise<number | undefined> {
    const keys = this.#records.keys;
    const source = this.#records.source;
    // Every command on the connection of its own (`runBlocking`): requests never queue behind a
    // sweep, nor count its commands as theirs.
    return withScopeLock(
      (operation) => source.runBlocking(operation),
      keys.sweepLock(),
      TUNABLES.record.sweepLockMs,
      async () => {
        let revoked = 0;
        for (const { deadlines } of keys.statsShards()) revoked += await this.#sweepSet(deadlines, now);
        return revoked;
      },
    );
  }

  /** One shard's deadline set, a page at a time (at most `sweepMaxPages`; the rest is the next sweep's). */
  async #sweepSet(key: string, now: number): Promise<number> {
    const source = this.#records.source;
    const size = TUNABLES.record.sweepPageSize;
    let revoked = 0;
    for (let page = 0; page < TUNABLES.record.sweepMaxPages; page++) {
      const members = await source.runBlocking((c) =>
        c.zrange(key, "-inf", now, "BYSCORE", "LIMIT", 0, size),
      );
      if (members.length === 0) break;
      const hexes = members.filter((member) => HEX.test(member));
      revoked += await this.#records.destroy(hexes, { reason: "lifetime", pastDeadline: now, apart: true });
      // Revoked, or gone: off the list (one refiled meanwhile under a later deadline stays).
      await source.runBlocking((c) => c.relsDeadlinesDrop(key, now, ...members));
      if (members.length < size) break;
    }
    return revoked;
  }
}
