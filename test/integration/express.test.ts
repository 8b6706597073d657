/**
 * express 5 + express-session + RelsRedisStore, end to end over HTTP (supertest), against
 * the shared test Redis. Each run writes under its own namespace and never flushes.
 */
import { createHash, randomUUID } from "node:crypto";
import express from "express";
import type { Request } from "express";
import session from "express-session";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore, RelsSessionsManager, sessionHandle } from "../../src/index.js";

const SECRET = "express-test-secret";
const COOKIE = "sid";

interface AppData {
  userId?: string;
  visits?: number;
}

function data(req: Request): AppData {
  return req.session as unknown as AppData;
}

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err: unknown) => (err ? reject(err) : resolve())));
}

function destroy(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));
}

function buildApp(store: RelsRedisStore, manager?: RelsSessionsManager): express.Express {
  const app = express();
  app.use(express.json());
  app.use(session({ store, secret: SECRET, name: COOKIE, resave: false, saveUninitialized: false }));
  app.post("/login", async (req, res) => {
    const userId = String(req.body.userId);
    await regenerate(req);
    data(req).userId = userId;
    if (manager) await manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 });
    res.json({ userId });
  });
  app.post("/rotate", async (req, res) => {
    const userId = data(req).userId;
    if (!userId) {
      res.status(401).json({ userId: null });
      return;
    }
    await regenerate(req);
    data(req).userId = userId;
    if (manager) await manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 });
    res.json({ userId });
  });
  app.get("/me", (req, res) => {
    res.json({ userId: data(req).userId ?? null });
  });
  app.post("/visit", (req, res) => {
    const visits = (data(req).visits ?? 0) + 1;
    data(req).visits = visits;
    res.json({ visits });
  });
  app.post("/logout", async (req, res) => {
    await destroy(req);
    res.json({ ok: true });
  });
  return app;
}

/** The `name=value` pair of the session cookie a response set, or undefined. */
function sessionCookie(res: request.Response): string | undefined {
  const header = res.headers["set-cookie"] as unknown as string[] | undefined;
  const line = header?.find((c) => c.startsWith(`${COOKIE}=`));
  return line?.split(";")[0];
}

/** The unsigned sid inside a session cookie: `sid=s%3A<sid>.<signature>` → `<sid>`. */
function sidOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(COOKIE.length + 1));
  expect(value.startsWith("s:")).toBe(true);
  return value.slice(2, value.lastIndexOf("."));
}

function hexOf(sid: string): string {
  return createHash("sha256").update(sid).digest("hex");
}

async function login(app: express.Express, userId: string): Promise<{ cookie: string; sid: string }> {
  const res = await request(app).post("/login").send({ userId }).expect(200);
  const cookie = sessionCookie(res);
  expect(cookie, "login sets the session cookie").toBeDefined();
  return { cookie: cookie!, sid: sidOf(cookie!) };
}

async function whoAmI(app: express.Express, cookie: string): Promise<string | null> {
  const res = await request(app).get("/me").set("Cookie", cookie).expect(200);
  return (res.body as { userId: string | null }).userId;
}

/** Every key under the namespace, with every string its value holds (fields, members, scores too). */
async function dumpNamespace(redis: Redis, namespace: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${namespace}*`, "COUNT", 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let values: string[];
      switch (type) {
        case "string":
          values = [(await redis.get(key)) ?? ""];
          break;
        case "hash":
          values = Object.entries(await redis.hgetall(key)).flat();
          break;
        case "zset":
          values = await redis.zrange(key, 0, -1, "WITHSCORES");
          break;
        case "set":
          values = await redis.smembers(key);
          break;
        case "list":
          values = await redis.lrange(key, 0, -1);
          break;
        case "none":
          continue; // expired between SCAN and TYPE
        default:
          throw new Error(`unexpected type ${type} at ${key}`);
      }
      out.set(key, values);
    }
  } while (cursor !== "0");
  return out;
}

const url = inject("redisUrl");
const namespace = `t-${randomUUID()}`;
let client: Redis;
let redis: Redis;
let store: RelsRedisStore;
let manager: RelsSessionsManager;
// One app of each kind: every `session()` middleware adds listeners to the store.
let plainApp: express.Express;
let recordingApp: express.Express;

beforeAll(async () => {
  client = new Redis(url);
  redis = new Redis(url);
  store = new RelsRedisStore({ client, namespace });
  manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
  plainApp = buildApp(store);
  recordingApp = buildApp(store, manager);
  await Promise.all([client.ping(), redis.ping()]);
});

afterAll(async () => {
  await Promise.all([client.quit(), redis.quit()]);
});

describe.each([
  { label: "plain sessions", recorded: false },
  { label: "sessions recorded by RelsSessionsManager", recorded: true },
])("express-session with RelsRedisStore: $label", ({ recorded }) => {
  const app = () => (recorded ? recordingApp : plainApp);

  it("logs in with regenerate, and later requests see the session", async () => {
    const a = app();
    const user = `u-${randomUUID()}`;
    const { cookie } = await login(a, user);
    expect(await whoAmI(a, cookie)).toBe(user);
    const first = await request(a).post("/visit").set("Cookie", cookie).expect(200);
    const second = await request(a).post("/visit").set("Cookie", cookie).expect(200);
    expect([first.body.visits, second.body.visits]).toEqual([1, 2]);
    expect(await whoAmI(a, cookie)).toBe(user);
  });

  it("without a cookie there is no session, and nothing is saved for it", async () => {
    const a = app();
    const res = await request(a).get("/me").expect(200);
    expect(res.body.userId).toBeNull();
    expect(sessionCookie(res)).toBeUndefined();
  });

  it("logout (req.session.destroy) ends the session and removes it from Redis", async () => {
    const a = app();
    const user = `u-${randomUUID()}`;
    const { cookie, sid } = await login(a, user);
    expect(await redis.exists(store.keys.session(hexOf(sid)))).toBe(1);
    await request(a).post("/logout").set("Cookie", cookie).expect(200);
    expect(await whoAmI(a, cookie)).toBeNull();
    expect(await redis.exists(store.keys.session(hexOf(sid)))).toBe(0);
    if (recorded) expect(await manager.activeSessions(user)).toEqual([]);
  });

  it("regenerate swaps the id: the new cookie works, the old one no longer does", async () => {
    const a = app();
    const user = `u-${randomUUID()}`;
    const before = await login(a, user);
    const res = await request(a).post("/rotate").set("Cookie", before.cookie).expect(200);
    const cookie = sessionCookie(res);
    expect(cookie).toBeDefined();
    const after = sidOf(cookie!);
    expect(after).not.toBe(before.sid);
    expect(await whoAmI(a, cookie!)).toBe(user);
    expect(await whoAmI(a, before.cookie)).toBeNull();
    expect(await redis.exists(store.keys.session(hexOf(before.sid)))).toBe(0);
    if (recorded) {
      const sessions = await manager.activeSessions(user);
      expect(sessions.map((s) => s.sessionId)).toEqual([sessionHandle(hexOf(after))]);
    }
  });

  it("logging in again from a signed-in session replaces it (no fixation)", async () => {
    const a = app();
    const user = `u-${randomUUID()}`;
    const first = await login(a, user);
    const res = await request(a).post("/login").set("Cookie", first.cookie).send({ userId: user }).expect(200);
    const second = sidOf(sessionCookie(res)!);
    expect(second).not.toBe(first.sid);
    expect(await whoAmI(a, first.cookie)).toBeNull();
  });

  it("the raw sid is nowhere in Redis: no key, no value, no field, no member", async () => {
    const a = app();
    const sids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { cookie, sid } = await login(a, `u-${randomUUID()}`);
      sids.push(sid);
      await request(a).post("/visit").set("Cookie", cookie).expect(200);
      if (i === 0) {
        // A rotated session leaves a tombstone behind: it must not name the sid either.
        const rotated = await request(a).post("/rotate").set("Cookie", cookie).expect(200);
        sids.push(sidOf(sessionCookie(rotated)!));
      }
    }
    const dump = await dumpNamespace(redis, namespace);
    // Positive control: the dump does hold these sessions, under their private ids.
    for (const sid of sids.slice(1)) expect(dump.has(store.keys.session(hexOf(sid)))).toBe(true);
    expect(dump.has(store.keys.tombstone(hexOf(sids[0]!)))).toBe(true);
    for (const sid of sids) {
      expect(sid.length).toBeGreaterThanOrEqual(20);
      for (const [key, values] of dump) {
        expect(key.includes(sid), `key ${key}`).toBe(false);
        for (const value of values) expect(value.includes(sid), `a value of ${key}`).toBe(false);
      }
    }
  });
});

describe("metadata written by RelsSessionsManager.recordAuthenticatedRequest", () => {
  it("names the session by its handle and holds no raw sid", async () => {
    const a = recordingApp;
    const user = `u-${randomUUID()}`;
    const res = await request(a).post("/login").set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0").send({ userId: user });
    const sid = sidOf(sessionCookie(res)!);
    const key = store.keys.session(hexOf(sid));
    const [rawMeta, payload] = await redis.hmget(key, "m", "d");
    expect(rawMeta).toBeTypeOf("string");
    expect(rawMeta!.includes(sid)).toBe(false);
    expect(payload!.includes(sid)).toBe(false);
    const meta = JSON.parse(rawMeta!) as Record<string, unknown>;
    expect(meta).toMatchObject({
      sessionId: sessionHandle(hexOf(sid)),
      userId: user,
      applicationName: "Turtle",
      sessionKeyType: "cookie",
      clientPlatform: "web",
      userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    });
    expect(Object.values(meta)).not.toContain(sid);
    const index = await redis.zrange(store.keys.userIndex(user), 0, -1);
    expect(index).toEqual([hexOf(sid)]);
    const listed = await manager.activeSessions(user);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.sessionId).toBe(sessionHandle(hexOf(sid)));
    expect(JSON.stringify(listed)).not.toContain(sid);
  });
});
