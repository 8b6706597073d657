/** The manager contract: the trackSessions middleware. */
import { describe, expect, it } from "vitest";
import { DESKTOP_WEB, IOS_APP, TWO_HOURS } from "../devices.js";
import { collect, type ManagerContractSetup, newUser, openHarness, totalSessions } from "../harness.js";
import { sessionHandle } from "../../../../src/ids.js";
import { streamSessions } from "../../../../src/users/stream.js";

export function describeTrackSessions(setup: ManagerContractSetup): void {
  describe("trackSessions middleware", () => {
    it("records requests whose getUser returns a user and leaves the others alone", async () => {
      const h = await openHarness(setup);
      const base = await h.serve(h.manager, { track: true });
      const user = newUser();
      const app = h.device(IOS_APP, base);
      const visitor = h.device(DESKTOP_WEB, base);

      // getUser runs before the route signs in: nothing recorded yet.
      await app.post("/set-user", { userId: user });
      expect(await h.sessionExists(app.hex)).toBe(true);
      expect(await h.manager.activeSessions(user)).toEqual([]);
      expect(await totalSessions(h)).toBe(0);

      const startedAt = Date.now();
      expect(await app.get("/ping")).toEqual({ user });
      const listed = await h.manager.activeSessions(user);
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({
        sessionId: sessionHandle(app.hex),
        userId: user,
        clientPlatform: "ios_app",
        device: "iPhone15,2",
        appVersion: "5.12.0",
        ip: "203.0.113.10",
      });
      expect(listed[0]!.expiresAt.getTime()).toBeGreaterThanOrEqual(startedAt + TWO_HOURS - 1000);
      expect(listed[0]!.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + TWO_HOURS + 1000);
      expect(await h.indexMembers(user)).toEqual([app.hex]);

      // A visitor with a session but no user: left alone.
      await visitor.post("/visit");
      expect(await visitor.get("/ping")).toEqual({ user: null });
      expect(await h.sessionExists(visitor.hex)).toBe(true);
      expect(((await h.store.get(visitor.sid)) as unknown as Record<string, unknown>)._rels).toBeUndefined();
      expect(await totalSessions(h)).toBe(1);
      expect((await collect(streamSessions(h.store, 10))).map((m) => m.sessionId)).toEqual([sessionHandle(app.hex)]);
    });
  });
}
