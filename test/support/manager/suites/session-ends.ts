/** The manager contract: every way a session ends takes it out of the index and the stats, without reconcile. */
import { describe, expect, it } from "vitest";
import { ANDROID_APP, DESKTOP_WEB, IOS_APP, OTHER_WEB, TWO_HOURS } from "../devices.js";
import {
  emptyByPlatform,
  expectEnded,
  expectSignedIn,
  type ManagerContractSetup,
  newUser,
  openHarness,
  signInThreeDevices,
  totalSessions,
  waitFor,
} from "../harness.js";
import { keysOf } from "../../internals.js";

export function describeSessionEnds(setup: ManagerContractSetup): void {
  describe("every way a session ends takes it out of the index and the stats", () => {
    it("req.session.destroy()", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const web = h.device(DESKTOP_WEB);
      const android = h.device(ANDROID_APP);
      await web.login(user, { expiresAfter: TWO_HOURS });
      await android.login(user, { expiresAfter: TWO_HOURS });
      expect(await totalSessions(h)).toBe(2);

      await android.post("/logout");
      await expectEnded(h, android, user);
      await expectSignedIn(h, web, user);
      expect(await totalSessions(h)).toBe(1);
      expect((await h.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([web.handle]);
    });

    it("req.session.regenerate()", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const web = h.device(DESKTOP_WEB);
      const ios = h.device(IOS_APP);
      await web.login(user, { expiresAfter: TWO_HOURS });
      await ios.login(user, { expiresAfter: TWO_HOURS });
      expect(await totalSessions(h)).toBe(2);

      await ios.post("/regenerate");
      await expectEnded(h, ios, user);
      await expectSignedIn(h, web, user);
      expect(await totalSessions(h)).toBe(1);
      expect((await h.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([web.handle]);
    });

    it("store.clear()", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const other = newUser("other");
      const { ios, android, web } = await signInThreeDevices(h, user);
      const otherWeb = h.device(OTHER_WEB);
      await otherWeb.login(other, { expiresAfter: TWO_HOURS });
      await h.device(DESKTOP_WEB).post("/visit");
      expect(await totalSessions(h)).toBe(4);

      await h.store.clear();
      for (const device of [ios, android, web]) await expectEnded(h, device, user);
      await expectEnded(h, otherWeb, other);
      expect(await h.indexMembers(user)).toEqual([]);
      expect(await h.indexMembers(other)).toEqual([]);
      expect(await h.sessionKeys()).toEqual([]);
      const totals = await h.stats.totals();
      expect(totals.totalSessions).toBe(0);
      expect(totals.byPlatform).toEqual(emptyByPlatform());
    });

    it("TTL expiry: gone from activeSessions, pruned from the index, out of totals() without reconcile", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const lonely = newUser("lonely");
      // Same platform, so one stats bucket holds a live and an expiring member.
      const long = h.device(IOS_APP);
      const short = h.device(IOS_APP);
      const lonelyShort = h.device(ANDROID_APP);
      await long.login(user, { expiresAfter: TWO_HOURS });
      await short.login(user, { expiresAfter: 1500 });
      await lonelyShort.login(lonely, { expiresAfter: 1500 });

      const before = await h.manager.activeSessions(user);
      expect(before.map((s) => s.sessionId).sort()).toEqual([long.handle, short.handle].sort());
      const shortExpiresAt = before.find((s) => s.sessionId === short.handle)!.expiresAt.getTime();
      expect(shortExpiresAt).toBeGreaterThanOrEqual(short.loginStartedAt + 1500 - 1000);
      expect(shortExpiresAt).toBeLessThanOrEqual(short.loginEndedAt + 1500 + 1000);
      const lonelyExpiresAt = (await h.manager.activeSessions(lonely))[0]!.expiresAt.getTime();
      expect(await totalSessions(h)).toBe(3);
      expect(await h.indexMembers(user)).toContain(short.hex);

      await waitFor(
        "the short sessions to expire",
        async () =>
          !(await h.sessionExists(short.hex)) &&
          !(await h.sessionExists(lonelyShort.hex)) &&
          // Index entries and counts are filed a tenth of the lifetime past the expiry.
          Date.now() > Math.max(shortExpiresAt, lonelyExpiresAt) + 1500 / 10,
      );

      expect((await h.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([long.handle]);
      expect(await h.indexMembers(user)).toEqual([long.hex]);
      expect(await h.manager.activeSessions(lonely)).toEqual([]);
      // The index key itself goes with its last session.
      expect(await h.redis((c) => c.exists(keysOf(h.store).userIndex(lonely)))).toBe(0);

      const totals = await h.stats.totals();
      expect(totals.totalSessions).toBe(1);
      expect(totals.byPlatform).toEqual({ ...emptyByPlatform(), ios_app: 1 });
      expect(await h.bucketMembers(short.meta)).toEqual([long.hex]);
      expect(await h.bucketMembers(lonelyShort.meta)).not.toContain(lonelyShort.hex);
      expect((await short.account()).status).toBe(401);
      await expectSignedIn(h, long, user);
    });
  });
}
