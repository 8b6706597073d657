/**
 * express 5 + express-session + RelsRedisStore, end to end over HTTP (supertest), against
 * the shared test Redis. Each run writes under its own namespace and never flushes.
 */
import { keysOf } from "../support/internals.js";
import { randomUUID } from "node:crypto";
import type express from "express";
import type { Request } from "express";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { sessionHandle } from "../../src/ids.js";
import {
  appSession,
  login,
  regenerate,
  sessionCookie,
  sidOf,
  signInApp,
  whoAmI,
} from "../support/express-app.js";
import { sha256 } from "../support/store-contract.js";

const HOUR = 3_600_000;

/** The sign-in app, plus `POST /rotate`; with a manager, every sign-in is recorded. */
function buildApp(store: RelsRedisStore, manager?: RelsSessionsManager): express.Express {
  const record = async (userId: string, req: Request) => {
    if (manager) await manager.recordAuthenticatedRequest(userId, req, { expiresAfter: HOUR });
  };
  const app = signInApp(store, { onLogin: record });
  app.post("/rotate", async (req, res) => {
    const userId = appSession(req).userId;
    if (!userId) {
      res.status(401).json({ userId: null });
      return;
    }
    await regenerate(req);
    appSession(req).userId = userId;
    await record(userId, req);
    res.json({ userId });
  });
  return app;
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
    expect(await redis.exists(keysOf(store).session(sha256(sid)))).toBe(1);
    await request(a).post("/logout").set("Cookie", cookie).expect(200);
    expect(await whoAmI(a, cookie)).toBeNull();
    expect(await redis.exists(keysOf(store).session(sha256(sid)))).toBe(0);
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
    expect(await redis.exists(keysOf(store).session(sha256(before.sid)))).toBe(0);
    if (recorded) {
      const sessions = await manager.activeSessions(user);
      expect(sessions.map((s) => s.sessionId)).toEqual([sessionHandle(sha256(after))]);
    }
  });

  it("logging in again from a signed-in session replaces it (no fixation)", async () => {
    const a = app();
    const user = `u-${randomUUID()}`;
    const first = await login(a, user);
    const res = await request(a)
      .post("/login")
      .set("Cookie", first.cookie)
      .send({ userId: user })
      .expect(200);
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
        // A rotated session is gone: only its revocation marker is left, under its private id.
        const rotated = await request(a).post("/rotate").set("Cookie", cookie).expect(200);
        sids.push(sidOf(sessionCookie(rotated)!));
      }
    }
    const dump = await dumpNamespace(redis, namespace);
    // Positive control: the dump does hold these sessions, under their private ids.
    for (const sid of sids.slice(1)) expect(dump.has(keysOf(store).session(sha256(sid)))).toBe(true);
    expect([...dump.keys()].filter((key) => key.includes(sha256(sids[0]!)))).toEqual([
      keysOf(store).revoked(sha256(sids[0]!)),
    ]);
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
    const res = await request(a)
      .post("/login")
      .set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
      .send({ userId: user });
    const sid = sidOf(sessionCookie(res)!);
    const key = keysOf(store).session(sha256(sid));
    const value = await redis.get(key);
    expect(value).toBeTypeOf("string");
    expect(value!.includes(sid)).toBe(false);
    // Layout 4: the metadata is a section of its own, between the header and the payload.
    expect(value!.startsWith("4")).toBe(true);
    const head = value!.indexOf("\n");
    const meta = JSON.parse(value!.slice(head + 1, value!.indexOf("\n", head + 1))) as Record<
      string,
      unknown
    >;
    expect(value!.slice(value!.indexOf("\n", head + 1) + 1)).not.toContain('_rels"');
    expect(meta).toMatchObject({
      sessionId: sessionHandle(sha256(sid)),
      userId: user,
      applicationName: "Turtle",
      sessionKeyType: "cookie",
      clientPlatform: "web",
      userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    });
    expect(Object.values(meta)).not.toContain(sid);
    const index = await redis.zrange(keysOf(store).userIndex(user), 0, -1);
    expect(index).toEqual([sha256(sid)]);
    const listed = await manager.activeSessions(user);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.sessionId).toBe(sessionHandle(sha256(sid)));
    expect(JSON.stringify(listed)).not.toContain(sid);
  });
});
