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

    it("judges each request against the metadata Redis holds now, not an earlier request's", async () => {
      const h = await openHarness(setup);
      const base = await h.serve(h.manager, { track: true });
      const user = newUser();
      const app = h.device(IOS_APP, base);
      await app.post("/set-user", { userId: user });
      await app.get("/ping");
      await app.get("/ping");
      expect((await h.manager.activeSessions(user))[0]?.ip).toBe("203.0.113.10");

      // Another writer changes the stored metadata between two requests of this device.
      const stored = (await h.store.get(app.sid)) as unknown as { _rels: { ip: string } };
      stored._rels.ip = "198.51.100.9";
      await h.store.set(app.sid, stored as never);
      expect((await h.manager.activeSessions(user))[0]?.ip).toBe("198.51.100.9");

      // The device's own address differs from what Redis now holds: the request rewrites it.
      await app.get("/ping");
      expect((await h.manager.activeSessions(user))[0]?.ip).toBe("203.0.113.10");
    });

    it("returns metadata that cannot be changed by the caller, whether just written or unchanged", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const session = { cookie: { originalMaxAge: TWO_HOURS, expires: new Date(Date.now() + TWO_HOURS) } } as Record<string, unknown>;
      const req = { sessionID: "frozen-meta-sid", session, ip: "192.0.2.7", headers: { "user-agent": "curl/8.0" } };
      const written = await h.manager.recordAuthenticatedRequest(user, req as never);
      // As the next request would see it: decoded from what Redis returns.
      req.session = JSON.parse(JSON.stringify(session)) as Record<string, unknown>;
      const unchanged = await h.manager.recordAuthenticatedRequest(user, req as never);
      for (const meta of [written, unchanged]) {
        expect(Object.isFrozen(meta)).toBe(true);
        expect(() => {
          (meta as { ip: string | null }).ip = "203.0.113.66";
        }).toThrow(TypeError);
      }
      expect(unchanged).toEqual(written);
    });
  });
}
