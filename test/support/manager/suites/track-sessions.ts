/** The manager contract: the trackSessions middleware. */
import { describe, expect, it } from "vitest";
import { DESKTOP_WEB, IOS_APP, TWO_HOURS } from "../devices.js";
import { collect, type ManagerContractSetup, newUser, openHarness, totalSessions } from "../harness.js";
import { sessionHandle } from "../../../../src/ids.js";
import { streamSessions } from "../../../../src/users/stream.js";
import { storedMetaOf, withMetaField } from "../../internals.js";

/** A session and a bare request of Safari's for it, as a framework hands them to the manager. */
function safariRequest(sid: string) {
  const session = {
    cookie: { originalMaxAge: TWO_HOURS, expires: new Date(Date.now() + TWO_HOURS) },
  } as Record<string, unknown>;
  const safari =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
  return { session, req: { sessionID: sid, session, ip: "192.0.2.7", headers: { "user-agent": safari } } };
}

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
      expect(await storedMetaOf(h.store, visitor.sid)).toBeNull();
      expect(await totalSessions(h)).toBe(1);
      expect((await collect(streamSessions(h.store, 10))).map((m) => m.sessionId)).toEqual([
        sessionHandle(app.hex),
      ]);
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
      const stored = {
        ...(await h.store.get(app.sid)),
        _rels: await storedMetaOf(h.store, app.sid),
      } as unknown as { _rels: { ip: string } };
      stored._rels.ip = "198.51.100.9";
      await h.store.set(app.sid, stored as never);
      expect((await h.manager.activeSessions(user))[0]?.ip).toBe("198.51.100.9");

      // The device's own address differs from what Redis now holds: the request rewrites it.
      await app.get("/ping");
      expect((await h.manager.activeSessions(user))[0]?.ip).toBe("203.0.113.10");
    });

    it("reads the stored metadata again when any field of it changed, however deep", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const { session, req } = safariRequest("changed-meta-sid");
      await h.manager.recordAuthenticatedRequest(user, req as never);
      type Meta = Record<string, unknown> & { browser?: { version: string } };
      const stored = JSON.parse(JSON.stringify(withMetaField(session))) as { _rels: Meta };
      // Each request below finds the session as Redis would return it, after another writer
      // changed one field of its metadata: what comes back is that writer's value.
      const after = async (change: (meta: Meta) => void) => {
        const copy = JSON.parse(JSON.stringify(stored)) as typeof stored;
        change(copy._rels);
        req.session = copy;
        return h.manager.recordAuthenticatedRequest(user, req as never);
      };
      expect((await after(() => undefined)).browser?.version).toBe("17.4");
      expect((await after((meta) => void (meta.browser!.version = "17.5"))).browser?.version).toBe("17.5");
      const signInAt = "2020-01-02T03:04:05.000Z";
      expect((await after((meta) => void (meta.signInAt = signInAt))).signInAt.toISOString()).toBe(signInAt);
      expect((await after((meta) => void (meta.sessionKeyType = "token"))).sessionKeyType).toBe("token");
      // A field removed or added counts too.
      expect((await after((meta) => void delete meta.browser)).browser).toBeUndefined();
      expect((await after((meta) => void (meta.deviceType = "tablet"))).deviceType).toBe("tablet");
      expect((await after(() => undefined)).browser?.version).toBe("17.4");
    });

    it("hands each request its own metadata: a caller changing it (dates included) changes nothing for the next", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const { session, req } = safariRequest("own-copy-meta-sid");
      const written = await h.manager.recordAuthenticatedRequest(user, req as never);
      const snapshot = JSON.stringify(written);
      // Each following request sees the session as Redis returns it (decoded from JSON).
      const next = async () => {
        req.session = JSON.parse(JSON.stringify(withMetaField(session))) as Record<string, unknown>;
        return h.manager.recordAuthenticatedRequest(user, req as never);
      };
      const first = await next();
      expect(JSON.stringify(first)).toBe(snapshot);
      first.lastSeenAt.setTime(Date.UTC(3000, 0, 1));
      (first as { annotated?: boolean }).annotated = true;
      expect(first.browser).not.toBeNull();
      first.browser!.name = "changed by the caller";
      const second = await next();
      expect(JSON.stringify(second)).toBe(snapshot);
      expect(second).not.toHaveProperty("annotated");
    });
  });
}
