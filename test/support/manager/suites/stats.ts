/** The manager contract: totals() and reconcile(). */
import { describe, expect, it } from "vitest";
import { OTHER_WEB } from "../devices.js";
import {
  emptyByPlatform,
  type ManagerContractSetup,
  newUser,
  openHarness,
  signInThreeDevices,
  totalSessions,
} from "../harness.js";
import { SessionStats, type StatsTotals } from "../../../../src/stats/stats.js";
import { dropStats } from "../../internals.js";

export function describeStats(setup: ManagerContractSetup): void {
  describe("stats", () => {
    it("totals() counts the three devices by application and platform; reconcile() rebuilds them", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const startedAt = Date.now();
      const { ios } = await signInThreeDevices(h, user);
      await h.device(OTHER_WEB).post("/visit"); // anonymous: not counted
      const applicationName = ios.meta.applicationName;

      const totals = await h.stats.totals();
      expect(totals).toEqual({
        totalSessions: 3,
        lastUpdatedAt: expect.any(Date),
        byApplication: { [applicationName]: 3 },
        byPlatform: { ...emptyByPlatform(), ios_app: 1, android_app: 1, web: 1 },
      } satisfies Record<keyof StatsTotals, unknown>);
      expect(totals.lastUpdatedAt!.getTime()).toBeGreaterThanOrEqual(startedAt);
      expect(totals.lastUpdatedAt!.getTime()).toBeLessThanOrEqual(Date.now());

      // Corrupt the counters: delete every stats key, in every shard.
      await dropStats(h.store);
      const corrupted = await h.stats.totals();
      expect(corrupted.totalSessions).toBe(0);
      expect(corrupted.lastUpdatedAt).toBeNull();

      const progress: number[] = [];
      const reconciled = await new SessionStats(h.store).reconcile({ onProgress: (n) => progress.push(n) });
      const { lastUpdatedAt: _ignored, ...expected } = totals;
      expect(reconciled).toMatchObject(expected);
      expect(reconciled.lastUpdatedAt).toBeInstanceOf(Date);
      expect(await h.stats.totals()).toMatchObject(expected);
      expect(progress.length).toBeGreaterThan(0);
      expect([...progress].sort((a, b) => a - b)).toEqual(progress);
      expect(progress.at(-1)).toBe((await h.sessionKeys()).length);
      expect(progress.at(-1)).toBe(4);

      // Reconciled counters keep following session ends.
      await ios.post("/sessions/revoke", { sessionId: ios.handle });
      expect(await totalSessions(h)).toBe(2);
    });
  });
}
