/**
 * The round-trip budgets of ARCHITECTURE.md ("Round-trip budgets"), counted on the store's own ioredis
 * client with countRoundTrips: round trips, not time, so nothing here is a timed test.
 */
import { keysOf } from "../support/internals.js";
import { randomUUID } from "node:crypto";
import type express from "express";
import type { Request } from "express";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { SessionStats } from "../../src/stats/stats.js";
import { appSession, login, signInApp } from "../support/express-app.js";
import { countRoundTrips, type RoundTripCounter } from "../support/round-trips.js";
import { UA } from "../support/user-agents.js";

const HOUR = 3_600_000;

/**
 * The sign-in app (a sign-in is recorded when its body says `record: true`), plus
 * `GET /tracked`: an authenticated request that keeps the manager's metadata fresh.
 */
function buildApp(store: RelsRedisStore, manager: RelsSessionsManager): express.Express {
  const app = signInApp(store, {
    onLogin: async (userId, req) => {
      if (req.body.record === true)
        await manager.recordAuthenticatedRequest(userId, req, { expiresAfter: HOUR });
    },
  });
  app.get("/tracked", async (req, res) => {
    const userId = appSession(req).userId;
    if (userId) await manager.recordAuthenticatedRequest(userId, req, { expiresAfter: HOUR });
    res.json({ userId: userId ?? null });
  });
  return app;
}

/** A store with its own client, counted. */
interface Rig {
  client: Redis;
  store: RelsRedisStore;
  manager: RelsSessionsManager;
  app: express.Express;
  counter: RoundTripCounter;
}

const url = inject("redisUrl");
const base = `t-${randomUUID()}`;
const rigs: Rig[] = [];

async function rig(namespace: string, options: { touchAfter?: number } = {}): Promise<Rig> {
  const client = new Redis(url);
  await client.ping();
  const store = new RelsRedisStore({ client, namespace, ...options });
  const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
  const made = { client, store, manager, app: buildApp(store, manager), counter: countRoundTrips(client) };
  rigs.push(made);
  return made;
}

let standard: Rig;
let eager: Rig;

beforeAll(async () => {
  standard = await rig(`${base}-default`);
  eager = await rig(`${base}-eager`, { touchAfter: 0 });
});

afterAll(async () => {
  for (const { counter, client } of rigs) {
    counter.restore();
    await client.quit();
  }
});

/** A new user signs in through `r`'s app; `record` has the manager record the sign-in. */
async function loginNewUser(
  r: Rig,
  record = false,
): Promise<{ cookie: string; sid: string; userId: string }> {
  const userId = `u-${randomUUID()}`;
  const { cookie, sid } = await login(r.app, userId, { record });
  return { cookie, sid, userId };
}

/** Round trips (and commands) the store sent while serving one request. */
async function measure(
  r: Rig,
  send: () => PromiseLike<unknown>,
): Promise<{ roundTrips: number; commands: string[] }> {
  r.counter.reset();
  await send();
  return { roundTrips: r.counter.roundTrips, commands: r.counter.commands };
}

describe("request budgets (express-session, default store options)", () => {
  it("a request with an unchanged session costs 1 round trip: the touch is throttled", async () => {
    const { cookie, userId } = await loginNewUser(standard);
    const cost = await measure(standard, () =>
      request(standard.app)
        .get("/me")
        .set("Cookie", cookie)
        .expect(200)
        .then((res) => expect(res.body.userId).toBe(userId)),
    );
    expect(cost).toEqual({ roundTrips: 1, commands: ["get"] });
  });

  it("with touchAfter: 0 the same request does send its touch (2 round trips)", async () => {
    const { cookie } = await loginNewUser(eager);
    const cost = await measure(eager, () => request(eager.app).get("/me").set("Cookie", cookie).expect(200));
    expect(cost).toEqual({ roundTrips: 2, commands: ["get", "relsTouch"] });
  });

  it("a request that modifies the session costs 2 round trips: read, then one write", async () => {
    const { cookie } = await loginNewUser(standard);
    const cost = await measure(standard, () =>
      request(standard.app).post("/visit").set("Cookie", cookie).expect(200),
    );
    expect(cost).toEqual({ roundTrips: 2, commands: ["get", "set"] });
  });

  it("a signed-in request that modifies the session costs 2 round trips and runs no script: its filing holds", async () => {
    const { cookie } = await loginNewUser(standard, true);
    const cost = await measure(standard, () =>
      request(standard.app).post("/visit").set("Cookie", cookie).expect(200),
    );
    expect(cost).toEqual({ roundTrips: 2, commands: ["get", "set"] });
  });

  it("a sign-in whose route saves explicitly runs the filing script once: express-session's second save is a SET XX", async () => {
    const userId = `u-${randomUUID()}`;
    const app = signInApp(standard.store, {
      onLogin: async (id, req) => {
        await standard.manager.recordAuthenticatedRequest(id, req, { expiresAfter: HOUR });
        await new Promise<void>((resolve, reject) =>
          req.session.save((err: unknown) => (err ? reject(err) : resolve())),
        );
        appSession(req).visits = 1;
      },
    });
    const cost = await measure(standard, () => request(app).post("/login").send({ userId }).expect(200));
    expect(cost.commands.filter((c) => c === "relsWrite")).toEqual(["relsWrite"]);
    expect(cost.commands.at(-1)).toBe("set");
  });

  it("store.destroy(sid) costs 1 round trip", async () => {
    const { sid } = await loginNewUser(standard, true);
    const cost = await measure(standard, () => standard.store.destroy(sid));
    expect(cost).toEqual({ roundTrips: 1, commands: ["relsDestroy"] });
  });

  it("recordAuthenticatedRequest on a request where nothing changed costs 0 extra (1 in all)", async () => {
    const { cookie, userId } = await loginNewUser(standard, true);
    const cost = await measure(standard, () =>
      request(standard.app)
        .get("/tracked")
        .set("Cookie", cookie)
        .expect(200)
        .then((res) => expect(res.body.userId).toBe(userId)),
    );
    expect(cost).toEqual({ roundTrips: 1, commands: ["get"] });
  });
});

describe("per-user budgets with 1,000 sessions of one user", () => {
  const SESSIONS = 1000;
  const IPHONE_APP = {
    appversion: "5.12.0",
    "x-device": "iPhone15,2",
    "user-agent": "Turtle/5.12.0 CFNetwork/1568 Darwin/24.0.0",
  };
  const IPHONE_SAFARI = { "user-agent": UA.iphoneSafari };
  const DESKTOP = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0" };
  let bulk: Rig;
  const user = `u-${randomUUID()}`;
  const other = `u-${randomUUID()}`;

  /** A session as express-session would hand it over, recorded by the manager, then stored. */
  async function createSession(userId: string, headers: Record<string, string>): Promise<void> {
    const sid = randomUUID();
    const sessionData = {
      cookie: {
        originalMaxAge: HOUR,
        expires: new Date(Date.now() + HOUR).toISOString(),
        httpOnly: true,
        path: "/",
      },
      userId,
    };
    const fakeRequest = { sessionID: sid, session: sessionData, ip: "203.0.113.7", headers };
    await bulk.manager.recordAuthenticatedRequest(userId, fakeRequest as unknown as Request);
    await bulk.store.set(sid, sessionData as unknown as SessionData);
  }

  beforeAll(async () => {
    bulk = await rig(`${base}-bulk`);
    await Promise.all(
      Array.from({ length: SESSIONS }, (_, i) =>
        createSession(user, i % 10 === 0 ? IPHONE_APP : i % 10 < 3 ? IPHONE_SAFARI : DESKTOP),
      ),
    );
    await Promise.all(Array.from({ length: 3 }, () => createSession(other, DESKTOP)));
  });

  it("activeSessions(user) costs at most 2 round trips and lists all of them", async () => {
    bulk.counter.reset();
    const sessions = await bulk.manager.activeSessions(user);
    expect(bulk.counter.roundTrips).toBeLessThanOrEqual(2);
    expect(sessions).toHaveLength(SESSIONS);
    expect(new Set(sessions.map((s) => s.sessionId)).size).toBe(SESSIONS);
    expect(sessions.every((s) => s.userId === user && s.applicationName === "Turtle")).toBe(true);
  });

  it("SessionStats.totals() costs 1 round trip and counts every signed-in session", async () => {
    const stats = new SessionStats(bulk.store);
    bulk.counter.reset();
    const totals = await stats.totals();
    expect(bulk.counter.roundTrips).toBe(1);
    expect(totals.totalSessions).toBe(SESSIONS + 3);
    expect(totals.byApplication).toEqual({ Turtle: SESSIONS + 3 });
    expect(totals.byPlatform).toEqual({ ios_app: 100, android_app: 0, mobile_web: 200, web: 700 + 3 });
    expect(totals.lastUpdatedAt).toBeInstanceOf(Date);
  });

  it("logoutAllSessions(user) costs at most 2 round trips and revokes all of them", async () => {
    const index = keysOf(bulk.store).userIndex(user);
    bulk.counter.reset();
    const revoked = await bulk.manager.logoutAllSessions(user);
    expect(bulk.counter.roundTrips).toBeLessThanOrEqual(2);
    expect(revoked).toBe(SESSIONS);
    expect(await bulk.client.exists(index)).toBe(0);
    expect(await bulk.manager.activeSessions(user)).toEqual([]);
    expect(await bulk.manager.activeSessions(other)).toHaveLength(3);

    bulk.counter.reset();
    const totals = await new SessionStats(bulk.store).totals();
    expect(bulk.counter.roundTrips).toBe(1);
    expect(totals.totalSessions).toBe(3);
    expect(totals.byPlatform).toEqual({ ios_app: 0, android_app: 0, mobile_web: 0, web: 3 });
  });
});

describe("request budgets with an absolute lifetime (sessions.lifetimes): the deadline costs no round trip", () => {
  it("unchanged: 1 (GET, the deadline read from the header); tracked and unchanged: 1; modifying: 2, no script", async () => {
    const client = new Redis(url);
    await client.ping();
    const store = new RelsRedisStore({ client, namespace: `${base}-lifetime` });
    const manager = new RelsSessionsManager({
      store,
      applicationName: "Turtle",
      lifetimes: { profiles: { day: { absoluteMs: 86_400_000 } }, default: "day" },
    });
    const r: Rig = {
      client,
      store,
      manager,
      app: buildApp(store, manager),
      counter: countRoundTrips(client),
    };
    rigs.push(r);
    const userId = `u-${randomUUID()}`;
    const { cookie, hex } = await login(r.app, userId, { record: true });
    // Layout 4's deadline, after the score: what every read checks.
    const header = await client.getrange(keysOf(store).session(hex), 33, 48);
    expect(Number(header)).toBeGreaterThan(Date.now());

    const get = (path: string) => request(r.app).get(path).set("Cookie", cookie).expect(200);
    expect(await measure(r, () => get("/me"))).toEqual({ roundTrips: 1, commands: ["get"] });
    expect(await measure(r, () => get("/tracked"))).toEqual({ roundTrips: 1, commands: ["get"] });
    expect(await measure(r, () => request(r.app).post("/visit").set("Cookie", cookie).expect(200))).toEqual({
      roundTrips: 2,
      commands: ["get", "set"],
    });
    expect((await get("/me")).body.userId).toBe(userId);
  });
});
