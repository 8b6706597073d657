/** The manager contract: what activeSessions lists, with which metadata and timestamps. */
import { describe, expect, it } from "vitest";
import { DESKTOP_WEB, type Device, EXPECTED, IOS_APP, IOS_SIGN_IN, TWO_HOURS } from "../devices.js";
import {
  clockPast,
  type ManagerContractSetup,
  newUser,
  openHarness,
  signInThreeDevices,
  type ThreeDevices,
} from "../harness.js";
import { RelsSessionsManager } from "../../../../src/users/manager.js";
import { keysOf } from "../../internals.js";

export function describeListing(setup: ManagerContractSetup): void {
  describe("activeSessions", () => {
    it("lists an iOS app, an Android app and a desktop browser with their metadata; only the current one is marked", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const devices = await signInThreeDevices(h, user);
      const { ios, android, web } = devices;

      const account = await ios.account();
      expect(account.status).toBe(200);
      expect(account.user).toBe(user);
      const sessions = account.sessions;
      expect(sessions).toHaveLength(3);

      const applicationName = ios.meta.applicationName;
      expect(applicationName).not.toBe("");
      if (h.applicationName !== undefined) expect(applicationName).toBe(h.applicationName);

      for (const [label, device] of Object.entries(devices) as Array<[keyof ThreeDevices, Device]>) {
        const listed = sessions.find((s) => s.sessionId === device.handle);
        expect(listed, `${label} is listed`).toBeDefined();
        const s = listed!;
        expect(s, label).toMatchObject({
          ...EXPECTED[label],
          userId: user,
          applicationName,
          current: label === "ios",
        });

        // Timestamps: created at its sign-in; not seen since (the interval has not passed).
        for (const field of ["createdAt", "lastSeenAt"] as const) {
          expect(s[field].getTime(), `${label}.${field}`).toBeGreaterThanOrEqual(device.loginStartedAt);
          expect(s[field].getTime(), `${label}.${field}`).toBeLessThanOrEqual(device.loginEndedAt);
        }
        if (label === "ios") {
          expect(s.signInAt.toISOString()).toBe(IOS_SIGN_IN.toISOString());
        } else {
          expect(s.signInAt.getTime(), `${label}.signInAt`).toBeGreaterThanOrEqual(device.loginStartedAt);
          expect(s.signInAt.getTime(), `${label}.signInAt`).toBeLessThanOrEqual(device.loginEndedAt);
        }

        // expiresAt ≈ sign-in + expiresAfter, and what Redis's TTL says, within a second.
        expect(s.expiresAt.getTime()).toBeGreaterThanOrEqual(device.loginStartedAt + TWO_HOURS - 1000);
        expect(s.expiresAt.getTime()).toBeLessThanOrEqual(device.loginEndedAt + TWO_HOURS + 1000);
        const pttl = await h.redis((c) => c.pttl(keysOf(h.store).session(device.hex)));
        expect(pttl).toBeGreaterThan(0);
        expect(
          Math.abs(s.expiresAt.getTime() - (Date.now() + pttl)),
          `${label}: expiresAt vs PTTL`,
        ).toBeLessThan(1000);

        // The handle is neither the cookie's sid nor the Redis private id.
        expect(s.sessionId).not.toBe(device.sid);
        expect(s.sessionId).not.toBe(device.hex);
        expect(s.sessionId).not.toBe(`2::${device.hex}`);
        expect(device.sid).not.toContain(s.sessionId);
        expect(device.hex).not.toContain(s.sessionId);
        expect(account.text).not.toContain(device.sid);
        expect(account.text).not.toContain(device.hex);
      }
      expect(new Set(sessions.map((s) => s.sessionId)).size).toBe(3);

      // Only the requester's session is current; newest lastSeenAt first.
      expect(sessions.filter((s) => s.current).map((s) => s.sessionId)).toEqual([ios.handle]);
      expect(sessions.map((s) => s.sessionId)).toEqual([web.handle, android.handle, ios.handle]);
      for (let i = 1; i < sessions.length; i++) {
        expect(sessions[i - 1]!.lastSeenAt.getTime()).toBeGreaterThanOrEqual(
          sessions[i]!.lastSeenAt.getTime(),
        );
      }

      // Seen from the other devices, "current" follows the requester.
      for (const device of [android, web]) {
        const seen = await device.account();
        expect(seen.sessions.filter((s) => s.current).map((s) => s.sessionId)).toEqual([device.handle]);
        expect(seen.sessions).toHaveLength(3);
      }

      // Without a request, nothing is current, and the same sessions come out of Redis.
      const direct = await h.manager.activeSessions(user);
      expect(direct.map((s) => s.sessionId)).toEqual([web.handle, android.handle, ios.handle]);
      expect(direct.every((s) => !s.current)).toBe(true);
    });

    it("keeps signInAt from the first record unless a new one is given", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const web = h.device(DESKTOP_WEB);
      const first = await web.login(user, { expiresAfter: TWO_HOURS });
      const signInAt = first.signInAt.getTime();
      expect(signInAt).toBeGreaterThanOrEqual(web.loginStartedAt);
      expect(signInAt).toBeLessThanOrEqual(web.loginEndedAt);

      await clockPast(signInAt + 5);
      expect((await web.record()).signInAt.getTime()).toBe(signInAt);
      const [persisted] = await h.manager.activeSessions(user);
      expect(persisted?.signInAt.getTime()).toBe(signInAt);

      const again = new Date("2025-01-02T03:04:05.000Z");
      expect((await web.record({ signInAt: again })).signInAt.toISOString()).toBe(again.toISOString());
      expect((await h.manager.activeSessions(user))[0]?.signInAt.toISOString()).toBe(again.toISOString());
      // …and kept again by later records that give none, even those that change other fields.
      expect((await web.record()).signInAt.toISOString()).toBe(again.toISOString());
      web.setHeaders({ "x-course-id": "course-switched" });
      const switched = await web.record();
      expect(switched.courseId).toBe("course-switched");
      expect(switched.signInAt.toISOString()).toBe(again.toISOString());
      expect((await h.manager.activeSessions(user))[0]).toMatchObject({
        courseId: "course-switched",
        signInAt: again,
      });
      const account = await web.account();
      expect(account.sessions.map((s) => s.signInAt.toISOString())).toEqual([again.toISOString()]);
      expect(account.sessions[0]?.createdAt.getTime()).toBe(first.createdAt.getTime());
    });

    it("refreshes lastSeenAt only once lastSeenInterval has passed", async () => {
      const h = await openHarness(setup);
      const interval = 300;
      const manager = new RelsSessionsManager({
        store: h.store,
        applicationName: "ContractApp",
        lastSeenInterval: interval,
      });
      const base = await h.serve(manager);
      const user = newUser();
      const ios = h.device(IOS_APP, base);
      const signedIn = await ios.login(user, { expiresAfter: TWO_HOURS });
      expect(signedIn.applicationName).toBe("ContractApp");
      const seen0 = signedIn.lastSeenAt.getTime();

      // Within the interval: neither the request's view nor Redis moves.
      expect((await ios.record()).lastSeenAt.getTime()).toBe(seen0);
      expect((await manager.activeSessions(user))[0]?.lastSeenAt.getTime()).toBe(seen0);

      await clockPast(seen0 + interval);
      const refreshed = await ios.record();
      const seen1 = refreshed.lastSeenAt.getTime();
      expect(seen1).toBeGreaterThanOrEqual(seen0 + interval);
      expect(refreshed.createdAt.getTime()).toBe(signedIn.createdAt.getTime());
      expect(refreshed.signInAt.getTime()).toBe(signedIn.signInAt.getTime());
      const [persisted] = await manager.activeSessions(user);
      expect(persisted?.lastSeenAt.getTime()).toBe(seen1);

      // Right after a refresh, the next request does not move it again.
      expect((await ios.record()).lastSeenAt.getTime()).toBe(seen1);
      expect((await manager.activeSessions(user))[0]?.lastSeenAt.getTime()).toBe(seen1);
    });
  });
}
