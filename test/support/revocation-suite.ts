/**
 * Revoked means revoked, decided by Redis, as one suite run on every topology (standalone,
 * Cluster, Sentinel); each case failed on f424c5c:
 * - the README's sign-in (regenerate, record, explicit save, more work) with a revocation
 *   between its two saves, in all four resave / rolling / saveUninitialized modes;
 * - a session the store cannot place (a copy, no read of it remembered) is refused while its
 *   revocation marker lives, and created only for a recently issued cookie;
 * - `clear()` during sign-ins;
 * - two apps on one namespace with two prefixes keep their own indexes and stats;
 * - a shortened lifetime refiles the session at once (the index and stats follow it);
 * and the normal flows of express-session refuse nothing.
 */
import { randomUUID } from "node:crypto";
import express from "express";
import session, { type SessionData } from "express-session";
import type { Cluster, Redis } from "ioredis";
import request from "supertest";
import { describe, expect, it } from "vitest";
import type { RelsRedisStore, RelsRedisStoreOptions } from "../../src/index.js";
import { SessionWriteRefusedError } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { SessionStats } from "../../src/stats/stats.js";
import { appSession, expectSessionCookie, regenerate, sidOf, whoAmI } from "./express-app.js";
import { SlowRequests } from "./slow-requests.js";
import { keysOf } from "./internals.js";
import { sessionFor, sha256 } from "./store-contract.js";
import { waitUntil as waitFor } from "../helpers/redis/wait.js";

/** A new store on the topology under test, with these options. */
export type MakeRevocationStore = (
  options: { namespace: string } & Omit<RelsRedisStoreOptions, "client" | "source" | "namespace">,
) => RelsRedisStore;

/** Poll `check` until it holds (never a fixed sleep). */
function waitUntil(
  check: () => Promise<boolean>,
  options: { what: string; timeoutMs: number },
): Promise<void> {
  return waitFor(options.what, async () => ((await check()) ? true : "not yet"), {
    timeoutMs: options.timeoutMs,
  });
}

type Mode = { resave: boolean; rolling: boolean; saveUninitialized: boolean };
const MODES: Mode[] = [
  { resave: false, rolling: false, saveUninitialized: false },
  { resave: true, rolling: false, saveUninitialized: false },
  { resave: false, rolling: true, saveUninitialized: true },
  { resave: true, rolling: true, saveUninitialized: true },
];

function save(req: express.Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.save((err: unknown) => (err ? reject(err) : resolve())),
  );
}

/**
 * The README's app in one express-session mode: `/login` regenerates, records the sign-in,
 * saves explicitly, then waits on `hold` (more work) before it answers, and express-session
 * saves again at the end. `/visit` changes the session; `/me` reads it.
 */
function readmeApp(
  make: MakeRevocationStore,
  mode: Mode,
  options: { prefix?: string; namespace?: string } = {},
) {
  const store = make({
    namespace: options.namespace ?? `t-${randomUUID()}`,
    ...(options.prefix ? { prefix: options.prefix } : {}),
  });
  const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
  const holds: Array<{ entered: () => void; release: Promise<void> }> = [];
  const app = express();
  app.use(express.json());
  app.use(
    session({
      store,
      secret: "rels-session-test-secret",
      name: "sid",
      cookie: { maxAge: 3_600_000 },
      ...mode,
    }),
  );
  app.post("/login", async (req, res) => {
    const userId = String(req.body.userId);
    await regenerate(req);
    appSession(req).userId = userId;
    await manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 });
    await save(req);
    const hold = holds.shift();
    if (hold) {
      hold.entered();
      await hold.release;
    }
    res.json({ userId });
  });
  app.get("/me", (req, res) => {
    res.json({ userId: appSession(req).userId ?? null });
  });
  app.post("/visit", async (req, res) => {
    appSession(req).visits = (appSession(req).visits ?? 0) + 1;
    if (req.body.save) await save(req);
    res.json({ visits: appSession(req).visits });
  });
  // What another request of the same session may do meanwhile: switch account or sign out
  // without regenerating, or give the session a shorter lifetime.
  app.post("/switch", async (req, res) => {
    const userId = String(req.body.userId);
    appSession(req).userId = userId;
    await manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 });
    res.json({ userId });
  });
  app.post("/signout-soft", (req, res) => {
    delete appSession(req).userId;
    // The metadata leaves with the sign-in (null: none; deleting the field no longer reaches it).
    (req.session as unknown as Record<string, unknown>)._rels = null;
    res.json({ ok: true });
  });
  app.post("/shorten", async (req, res) => {
    await manager.recordAuthenticatedRequest(appSession(req).userId!, req, { expiresAfter: 2_000 });
    if (req.body.change) appSession(req).visits = (appSession(req).visits ?? 0) + 1;
    res.json({ ok: true });
  });
  const slow = new SlowRequests();
  slow.addRoutes(app, manager);
  /** A sign-in that stops after its explicit save until `release()`. */
  const slowLogin = async (userId: string) => {
    let entered!: () => void;
    let release!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    holds.push({ entered, release: new Promise<void>((resolve) => (release = resolve)) });
    const done = request(app).post("/login").send({ userId });
    const response = done.then((r) => r);
    await inside;
    return { release: () => (release(), response) };
  };
  /** A request that reads the session, then holds until `finish()`, then changes and saves it. */
  const slowWrite = (cookie: string) => slow.start(app, "post", "/slow-write", cookie);
  return { store, manager, app, slowLogin, slowWrite };
}

export function describeRevocationSuite(
  name: string,
  make: MakeRevocationStore,
  inspector: () => Redis | Cluster,
): void {
  describe(`revoked means revoked: ${name}`, () => {
    describe.each(MODES)("express-session %o", (mode) => {
      it("the README's sign-in: a revocation between its explicit save and express-session's own is final", async () => {
        const r = readmeApp(make, mode);
        const user = `u-${randomUUID()}`;
        const signIns = await Promise.all(Array.from({ length: 5 }, () => r.slowLogin(user)));
        await waitUntil(async () => (await r.manager.activeSessions(user)).length === 5, {
          what: "five saved sign-ins",
          timeoutMs: 5_000,
        });
        expect(await r.manager.logoutAllSessions(user)).toBe(5);
        const cookies = await Promise.all(signIns.map(async (s) => expectSessionCookie(await s.release())));
        for (const cookie of cookies) expect(await whoAmI(r.app, cookie)).toBeNull();
        expect(await r.manager.activeSessions(user)).toEqual([]);
        expect((await new SessionStats(r.store).totals()).totalSessions).toBe(0);
        // saveUninitialized stores the anonymous sessions the signed-out cookies were given.
        expect((await r.store.all()).filter((s) => (s as { userId?: string }).userId !== undefined)).toEqual(
          [],
        );
      });

      it("refuses nothing in the normal flow: sign in, read, change, save explicitly, sign in again", async () => {
        const r = readmeApp(make, mode);
        const user = `u-${randomUUID()}`;
        const cookie = expectSessionCookie(
          await request(r.app).post("/login").send({ userId: user }).expect(200),
        );
        expect(await whoAmI(r.app, cookie)).toBe(user);
        expect((await request(r.app).post("/visit").set("Cookie", cookie).send({}).expect(200)).body).toEqual(
          { visits: 1 },
        );
        expect(
          (await request(r.app).post("/visit").set("Cookie", cookie).send({ save: true }).expect(200)).body,
        ).toEqual({ visits: 2 });
        // A second sign-in from the same browser regenerates: the old sid ends, the new one works.
        const again = expectSessionCookie(
          await request(r.app).post("/login").set("Cookie", cookie).send({ userId: user }).expect(200),
        );
        expect(await whoAmI(r.app, again)).toBe(user);
        expect(await whoAmI(r.app, cookie)).toBeNull();
        expect((await r.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([
          r.manager.sessionIdOf({ sessionID: sidOf(again) }),
        ]);
        expect((await new SessionStats(r.store).totals()).totalSessions).toBe(1);
      });
    });

    describe("a session object the store cannot place (a framework's copy, no read remembered)", () => {
      it("is refused while its revocation marker lives, from a fresh object and cookie too", async () => {
        const store = make({ namespace: `t-${randomUUID()}` });
        const other = make({ namespace: keysOf(store).namespace });
        const sid = `s-${randomUUID()}`;
        await store.set(sid, sessionFor(60_000, { n: 1 }));
        // Revoked by another process: this one knows nothing of it.
        await other.destroy(sid);
        await store.set(sid, { ...sessionFor(60_000, { n: 2 }) } as SessionData);
        expect(await inspector().exists(keysOf(store).session(sha256(sid)))).toBe(0);
        expect(await inspector().pttl(keysOf(store).revoked(sha256(sid)))).toBeGreaterThan(86_000_000);
      });

      it("whose record is gone and whose cookie was issued before any marker could still live is refused with a typed error", async () => {
        const store = make({ namespace: `t-${randomUUID()}` });
        const sid = `s-${randomUUID()}`;
        const issuedTwoDaysAgo = {
          cookie: {
            originalMaxAge: 30 * 86_400_000,
            expires: new Date(Date.now() - 2 * 86_400_000 + 30 * 86_400_000),
            path: "/",
          },
          n: 1,
        } as unknown as SessionData;
        await expect(store.set(sid, issuedTwoDaysAgo)).rejects.toBeInstanceOf(SessionWriteRefusedError);
        await expect(store.set(sid, issuedTwoDaysAgo)).rejects.toThrow(
          /may have been revoked; nothing was written/,
        );
        expect(await store.get(sid)).toBeNull();
        // The same session, live, is saved from such a copy (last writer wins, as express-session's).
        await store.set(sid, sessionFor(60_000, { n: 0 }));
        await make({ namespace: keysOf(store).namespace }).set(sid, issuedTwoDaysAgo);
        expect(await store.get(sid)).toMatchObject({ n: 1 });
      });

      it("a signed-in session's copy saved by a process that never read it keeps the stored metadata, listed and counted once", async () => {
        const store = make({ namespace: `t-${randomUUID()}` });
        const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
        const user = `u-${randomUUID()}`;
        const sid = `s-${randomUUID()}`;
        const signedIn = sessionFor(60_000, { n: 1 });
        await manager.recordAuthenticatedRequest(user, {
          sessionID: sid,
          session: signedIn,
          ip: "192.0.2.9",
          headers: { "user-agent": "Firefox/128.0" },
        } as never);
        await store.set(sid, signedIn);
        // The copy holds no metadata: the write script keeps the record's, and the store writes
        // again with it (on Cluster the filing is known before anything is filed).
        const elsewhere = make({ namespace: keysOf(store).namespace });
        const copy = JSON.parse(JSON.stringify(await store.get(sid))) as SessionData & { n: number };
        copy.n = 2;
        await elsewhere.set(sid, copy);
        expect(await store.get(sid)).toMatchObject({ n: 2 });
        expect((await manager.activeSessions(user)).map((s) => s.ip)).toEqual(["192.0.2.9"]);
        expect((await new SessionStats(store).totals()).totalSessions).toBe(1);
        expect(await manager.logoutAllSessions(user)).toBe(1);
        expect(await store.get(sid)).toBeNull();
      });

      it("a sid that was only deleted because its cookie expired (not a revocation) can be saved again", async () => {
        const store = make({ namespace: `t-${randomUUID()}` });
        const sid = `s-${randomUUID()}`;
        await store.set(sid, sessionFor(60_000, { n: 1 }));
        await store.set(sid, {
          cookie: { originalMaxAge: 1_000, expires: new Date(Date.now() - 1_000) },
        } as unknown as SessionData);
        expect(await store.get(sid)).toBeNull();
        await store.set(sid, sessionFor(60_000, { n: 2 }));
        expect(await store.get(sid)).toMatchObject({ n: 2 });
      });
    });

    describe("store.clear() during sign-ins", () => {
      it("ends every session: a sign-in that saved before clear() and saves again after it stays signed out; a new sign-in works", async () => {
        const r = readmeApp(make, MODES[0]!);
        const user = `u-${randomUUID()}`;
        const slow = await r.slowLogin(user);
        const done = expectSessionCookie(
          await request(r.app).post("/login").send({ userId: user }).expect(200),
        );
        await r.store.clear();
        const late = expectSessionCookie(await slow.release());
        expect(await whoAmI(r.app, late)).toBeNull();
        expect(await whoAmI(r.app, done)).toBeNull();
        expect(await r.store.length()).toBe(0);
        expect(await r.manager.activeSessions(user)).toEqual([]);
        expect((await new SessionStats(r.store).totals()).totalSessions).toBe(0);
        const fresh = expectSessionCookie(
          await request(r.app).post("/login").send({ userId: user }).expect(200),
        );
        expect(await whoAmI(r.app, fresh)).toBe(user);
      });
    });

    describe("two apps on one namespace with two prefixes", () => {
      it("keep their own index and stats: listing, sign-out everywhere and reconcile in one leave the other's sessions listed and revocable", async () => {
        const namespace = `t-${randomUUID()}`;
        const a = readmeApp(make, MODES[0]!, { namespace, prefix: "sess:" });
        const b = readmeApp(make, MODES[0]!, { namespace });
        const user = `alice-${randomUUID()}`;
        const inA = expectSessionCookie(
          await request(a.app).post("/login").send({ userId: user }).expect(200),
        );
        const inB = expectSessionCookie(
          await request(b.app).post("/login").send({ userId: user }).expect(200),
        );
        expect(keysOf(a.store).userIndex(user)).not.toBe(keysOf(b.store).userIndex(user));
        // A lists its own session only, and prunes nothing of B's.
        expect(await a.manager.activeSessions(user)).toHaveLength(1);
        expect(await b.manager.activeSessions(user)).toHaveLength(1);
        await new SessionStats(a.store).reconcile();
        expect((await new SessionStats(b.store).totals()).totalSessions).toBe(1);
        expect((await new SessionStats(a.store).totals()).totalSessions).toBe(1);
        // B's "sign out everywhere" reaches B's session.
        expect(await b.manager.logoutAllSessions(user)).toBe(1);
        expect(await whoAmI(b.app, inB)).toBeNull();
        expect(await whoAmI(a.app, inA)).toBe(user);
        expect(await a.manager.logoutAllSessions(user)).toBe(1);
        expect(await whoAmI(a.app, inA)).toBeNull();
      });
    });

    describe("a save racing another request's refile (last writer wins, and stays listed)", () => {
      /** Sign in, hold a request that read the session, let `meanwhile` run, then release it. */
      async function race(
        mode: Mode,
        meanwhile: (r: ReturnType<typeof readmeApp>, cookie: string) => Promise<unknown>,
      ) {
        const r = readmeApp(make, mode);
        const user = `u-${randomUUID()}`;
        const cookie = expectSessionCookie(
          await request(r.app).post("/login").send({ userId: user }).expect(200),
        );
        const held = await r.slowWrite(cookie);
        await meanwhile(r, cookie);
        await held.finish();
        return { r, user, cookie };
      }

      /** Signed in as `user` again (the held request's save won): listed, counted, and ended by sign-out everywhere. */
      async function expectListedAndRevocable(r: ReturnType<typeof readmeApp>, user: string, cookie: string) {
        expect(await whoAmI(r.app, cookie)).toBe(user);
        expect(await r.manager.activeSessions(user)).toHaveLength(1);
        expect((await new SessionStats(r.store).totals()).totalSessions).toBe(1);
        expect(await r.manager.logoutAllSessions(user)).toBe(1);
        expect(await whoAmI(r.app, cookie)).toBeNull();
      }

      it("a switch of account without regenerate, then the held save", async () => {
        const { r, user, cookie } = await race(MODES[0]!, (rr, c) =>
          request(rr.app)
            .post("/switch")
            .set("Cookie", c)
            .send({ userId: `v-${randomUUID()}` })
            .expect(200),
        );
        await expectListedAndRevocable(r, user, cookie);
      });

      it("a sign-out that keeps the session (metadata removed), then the held save", async () => {
        const { r, user, cookie } = await race(MODES[0]!, (rr, c) =>
          request(rr.app).post("/signout-soft").set("Cookie", c).send({}).expect(200),
        );
        await expectListedAndRevocable(r, user, cookie);
      });

      it.each([MODES[0]!, MODES[2]!])(
        "a shorter lifetime (%o), then the held save with the longer one",
        async (mode) => {
          const { r, user, cookie } = await race(mode, (rr, c) =>
            request(rr.app).post("/shorten").set("Cookie", c).send({ change: true }).expect(200),
          );
          // Past the shorter lifetime's filing: the held save's longer record must still be listed.
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          await expectListedAndRevocable(r, user, cookie);
        },
      );
    });

    describe("the store's view of a session object", () => {
      it("a lifetime shortened on an otherwise unchanged request reaches Redis (the touch is not throttled away)", async () => {
        const r = readmeApp(make, MODES[0]!);
        const user = `u-${randomUUID()}`;
        const cookie = expectSessionCookie(
          await request(r.app).post("/login").send({ userId: user }).expect(200),
        );
        await request(r.app).post("/shorten").set("Cookie", cookie).send({}).expect(200);
        const key = keysOf(r.store).session(sha256(sidOf(cookie)));
        expect(await inspector().pttl(key)).toBeLessThanOrEqual(2_000);
        // Watched from Redis: each request of the session's own would extend its idle timeout.
        await waitUntil(async () => (await inspector().exists(key)) === 0, {
          what: "the 2 s lifetime to end the session",
          timeoutMs: 5_000,
        });
        expect(await whoAmI(r.app, cookie)).toBeNull();
      });

      it("an object read from one store and saved to another (another prefix) is stored there", async () => {
        const namespace = `t-${randomUUID()}`;
        const a = make({ namespace, prefix: `${namespace}:a:` });
        const b = make({ namespace, prefix: `${namespace}:b:` });
        const sid = `s-${randomUUID()}`;
        await a.set(sid, sessionFor(3_600_000, { cart: 1 }));
        await b.set(sid, (await a.get(sid))!);
        expect(await b.get(sid)).toMatchObject({ cart: 1 });
      });

      it("a session that never expires (disableTTL) leaves a revocation marker that never expires", async () => {
        const store = make({ namespace: `t-${randomUUID()}`, disableTTL: true });
        const sid = `s-${randomUUID()}`;
        await store.set(sid, sessionFor(60_000, { n: 1 }));
        await store.destroy(sid);
        expect(await inspector().pttl(keysOf(store).revoked(sha256(sid)))).toBe(-1);
        await store.set(sid, {
          cookie: { originalMaxAge: null, expires: null },
          n: 2,
        } as unknown as SessionData);
        expect(await store.get(sid)).toBeNull();
      });
    });

    describe("filing follows the lifetime", () => {
      it("a session rewritten with a shorter lifetime is refiled at once: gone from the index and totals within its new slack", async () => {
        const store = make({ namespace: `t-${randomUUID()}` });
        const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
        const user = `u-${randomUUID()}`;
        const sid = `s-${randomUUID()}`;
        const meta = {
          userId: user,
          applicationName: "Turtle",
          clientPlatform: "web",
          createdAt: new Date().toISOString(),
        };
        await store.set(sid, sessionFor(6_000_000, { _rels: meta }));
        const index = keysOf(store).userIndex(user);
        expect(Number(await inspector().zscore(index, sha256(sid)))).toBeGreaterThan(Date.now() + 6_000_000);
        // Rewritten with a 2 s lifetime: filed under 2 s plus a tenth of it, not 6,000 s.
        const loaded = (await store.get(sid))!;
        await store.set(sid, {
          ...loaded,
          cookie: { ...loaded.cookie, originalMaxAge: 2_000, expires: new Date(Date.now() + 2_000) },
        } as SessionData);
        const score = Number(await inspector().zscore(index, sha256(sid)));
        expect(score).toBeLessThanOrEqual(Date.now() + 2_300);
        await waitUntil(async () => (await inspector().exists(keysOf(store).session(sha256(sid)))) === 0, {
          what: "the session's TTL",
          timeoutMs: 5_000,
        });
        await waitUntil(async () => (await new SessionStats(store).totals()).totalSessions === 0, {
          what: "totals() to drop it",
          timeoutMs: 2_000,
        });
        expect(await manager.activeSessions(user)).toEqual([]);
      });
    });
  });
}
