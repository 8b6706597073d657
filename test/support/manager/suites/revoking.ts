/** The manager contract: logoutSession(s), logoutAllSessions, logoutOtherSessions and maxSessionsPerUser. */
import { describe, expect, it, onTestFinished } from "vitest";
import { ANDROID_APP, DESKTOP_WEB, IOS_APP, OTHER_WEB, TWO_HOURS } from "../devices.js";
import {
  expectEnded,
  expectSignedIn,
  type Harness,
  type ManagerContractSetup,
  newUser,
  openHarness,
  signInThreeDevices,
  totalSessions,
} from "../harness.js";
import { recordsOf } from "../../../../src/record/of-store.js";
import { RelsSessionsManager } from "../../../../src/users/manager.js";

export function describeRevoking(setup: ManagerContractSetup): void {
  describe("revoking", () => {
    /** Three devices of `user`, and one device of another user, `other`. */
    async function revokeFixture(h: Harness) {
      const user = newUser();
      const other = newUser("other");
      const devices = await signInThreeDevices(h, user);
      const otherWeb = h.device(OTHER_WEB);
      await otherWeb.login(other, { expiresAfter: TWO_HOURS });
      expect(await totalSessions(h)).toBe(4);
      return { user, other, otherWeb, ...devices };
    }

    it("logoutSession(user, handle) ends that session only; another user's handle revokes nothing", async () => {
      const h = await openHarness(setup);
      const { user, other, otherWeb, ios, android, web } = await revokeFixture(h);

      expect(await ios.post("/sessions/revoke", { sessionId: android.handle })).toEqual({ revoked: true });
      await expectEnded(h, android, user);
      await expectSignedIn(h, ios, user);
      await expectSignedIn(h, web, user);
      expect((await ios.account()).sessions.map((s) => s.sessionId).sort()).toEqual(
        [ios.handle, web.handle].sort(),
      );
      expect(await totalSessions(h)).toBe(3);

      // Again: already gone. Another user's handle: nothing happens to it.
      expect(await ios.post("/sessions/revoke", { sessionId: android.handle })).toEqual({ revoked: false });
      expect(await ios.post("/sessions/revoke", { sessionId: otherWeb.handle })).toEqual({ revoked: false });
      expect(await h.manager.logoutSession(user, otherWeb.handle)).toBe(false);
      await expectSignedIn(h, otherWeb, other);
      expect((await h.manager.activeSessions(other)).map((s) => s.sessionId)).toEqual([otherWeb.handle]);
      expect(await totalSessions(h)).toBe(3);
    });

    it("logoutSessions(user, handles) ends those of the user and counts them", async () => {
      const h = await openHarness(setup);
      const { user, other, otherWeb, ios, android, web } = await revokeFixture(h);

      expect(await web.post("/sessions/revoke-many", { sessionIds: [otherWeb.handle] })).toEqual({
        count: 0,
      });
      await expectSignedIn(h, otherWeb, other);

      const reply = await web.post("/sessions/revoke-many", {
        sessionIds: [ios.handle, android.handle, otherWeb.handle, "not-a-handle"],
      });
      expect(reply).toEqual({ count: 2 });
      await expectEnded(h, ios, user);
      await expectEnded(h, android, user);
      await expectSignedIn(h, web, user);
      await expectSignedIn(h, otherWeb, other);
      expect((await web.account()).sessions.map((s) => s.sessionId)).toEqual([web.handle]);
      expect(await totalSessions(h)).toBe(2);
    });

    it("logoutAllSessions(user) ends every session of the user, the requester's included", async () => {
      const h = await openHarness(setup);
      const { user, other, otherWeb, ios, android, web } = await revokeFixture(h);

      expect(await android.post("/sessions/revoke-all")).toEqual({ count: 3 });
      for (const device of [ios, android, web]) await expectEnded(h, device, user);
      await expectSignedIn(h, otherWeb, other);
      expect(await h.manager.activeSessions(user)).toEqual([]);
      expect(await h.indexMembers(user)).toEqual([]);
      expect(await totalSessions(h)).toBe(1);
      expect(await h.manager.logoutAllSessions(user)).toBe(0);
      await expectSignedIn(h, otherWeb, other);
    });

    it("logoutOtherSessions(user, req) ends every session of the user but the requester's", async () => {
      const h = await openHarness(setup);
      const { user, other, otherWeb, ios, android, web } = await revokeFixture(h);

      expect(await web.post("/sessions/revoke-others")).toEqual({ count: 2 });
      await expectEnded(h, ios, user);
      await expectEnded(h, android, user);
      await expectSignedIn(h, web, user);
      await expectSignedIn(h, otherWeb, other);
      const account = await web.account();
      expect(account.sessions.map((s) => [s.sessionId, s.current])).toEqual([[web.handle, true]]);
      expect(await totalSessions(h)).toBe(2);
      expect(await web.post("/sessions/revoke-others")).toEqual({ count: 0 });
      await expectSignedIn(h, web, user);
    });

    it("maxSessionsPerUser: signing in beyond the cap revokes the session due to expire soonest", async () => {
      const h = await openHarness(setup);
      const manager = new RelsSessionsManager({
        store: h.store,
        applicationName: "ContractApp",
        maxSessionsPerUser: 2,
      });
      onTestFinished(() => {
        recordsOf(h.store).maxSessionsPerUser = 0;
      });
      const base = await h.serve(manager);
      const user = newUser();
      const first = h.device(IOS_APP, base);
      const second = h.device(ANDROID_APP, base);
      const third = h.device(DESKTOP_WEB, base);
      // The first signed in first, but for longer: the second is due to expire soonest.
      await first.login(user, { expiresAfter: 2 * TWO_HOURS });
      await second.login(user, { expiresAfter: TWO_HOURS });
      await third.login(user, { expiresAfter: TWO_HOURS });
      await expectEnded(h, second, user);
      await expectSignedIn(h, first, user);
      await expectSignedIn(h, third, user);
      expect((await manager.activeSessions(user)).map((s) => s.sessionId).sort()).toEqual(
        [first.handle, third.handle].sort(),
      );
      expect(await totalSessions(h)).toBe(2);
    });
  });
}
