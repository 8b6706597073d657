/**
 * The session record's promises that 0.1 broke (each test here failed on 0.1):
 * - revoked means revoked with no time limit: a request in flight cannot bring a session
 *   back, however long it ran, after a destroy, a revocation, a cap eviction or `clear()`;
 * - the per-user cap holds under concurrent sign-ins;
 * - a write refused for lack of memory is refused whole;
 * - sessions written by 0.1 (layout 2) are read, and move to layout 3 on their next write.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type express from "express";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { SessionStats } from "../../src/stats/stats.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { login, signInApp, whoAmI } from "../support/express-app.js";
import { dropStats, keysOf } from "../support/internals.js";
import { recordsOf } from "../../src/record/of-store.js";
import { sessionFor, sha256 } from "../support/store-contract.js";
import { clientsForThisFile } from "../support/stores.js";
import { SlowRequests } from "../support/slow-requests.js";

const { client, redis } = clientsForThisFile();

interface Rig {
  store: RelsRedisStore;
  manager: RelsSessionsManager;
  app: express.Express;
  /** Start a slow modifying request with `cookie`; resolves once the route holds the session. */
  slowWrite(cookie: string): Promise<{ finish: () => Promise<request.Response> }>;
}

function rig(
  storeOptions: ConstructorParameters<typeof RelsRedisStore>[0] = {},
  maxSessionsPerUser?: number,
): Rig {
  const store = new RelsRedisStore({ client, namespace: `t-${randomUUID()}`, ...storeOptions });
  const manager = new RelsSessionsManager({
    store,
    applicationName: "Turtle",
    ...(maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser }),
  });
  const slowRequests = new SlowRequests();
  const app = slowRequests.addRoutes(
    signInApp(store, {
      onLogin: (userId, req) => manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 }),
    }),
    manager,
  );
  return {
    store,
    manager,
    app,
    slowWrite: (cookie) => slowRequests.start(app, "post", "/slow-write", cookie),
  };
}

describe("revoked means revoked, with no time limit", () => {
  it("a request that outlives what 0.1's tombstone lasted (tombstoneTtl: 1 s) still cannot save its revoked session", async () => {
    const r = rig({ tombstoneTtl: 1 });
    const user = `u-${randomUUID()}`;
    const { cookie, sid } = await login(r.app, user);
    const slow = await r.slowWrite(cookie);
    expect(await r.manager.logoutAllSessions(user)).toBe(1);
    // The request goes on past the tombstone's lifetime: an SSE stream, a long poll, an upload.
    await delay(1_300);
    expect((await slow.finish()).body).toEqual({ hadUser: user });
    expect(await whoAmI(r.app, cookie)).toBeNull();
    expect(await redis.exists(keysOf(r.store).session(sha256(sid)))).toBe(0);
    expect(await r.manager.activeSessions(user)).toEqual([]);
    expect((await new SessionStats(r.store).totals()).totalSessions).toBe(0);
  });

  it("store.clear() while a request is in flight: its save does not bring the session back", async () => {
    const r = rig();
    const user = `u-${randomUUID()}`;
    const { cookie } = await login(r.app, user);
    const slow = await r.slowWrite(cookie);
    await r.store.clear();
    await slow.finish();
    expect(await whoAmI(r.app, cookie)).toBeNull();
    expect(await r.store.length()).toBe(0);
    expect(await r.manager.activeSessions(user)).toEqual([]);
    // A new session after the clear is stored as usual.
    const again = await login(r.app, user);
    expect(await whoAmI(r.app, again.cookie)).toBe(user);
  });

  it("a session evicted by the cap stays evicted when its own request, in flight, saves", async () => {
    const r = rig({}, 1);
    const user = `u-${randomUUID()}`;
    const first = await login(r.app, user);
    const slow = await r.slowWrite(first.cookie);
    const second = await login(r.app, user);
    await slow.finish();
    expect(await whoAmI(r.app, first.cookie)).toBeNull();
    expect(await whoAmI(r.app, second.cookie)).toBe(user);
    expect((await r.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([
      r.manager.sessionIdOf({ sessionID: second.sid }),
    ]);
  });

  it("a copy of a session read before its revocation (what Fastify saves) cannot bring it back", async () => {
    const r = rig();
    const user = `u-${randomUUID()}`;
    const { sid } = await login(r.app, user);
    const loaded = (await r.store.get(sid))!;
    expect(await r.manager.logoutAllSessions(user)).toBe(1);
    await r.store.set(sid, { ...loaded, n: 2 } as SessionData);
    expect(await r.store.get(sid)).toBeNull();
    expect(await r.manager.activeSessions(user)).toEqual([]);
  });

  it("a copy of a session read before this same process destroyed it (a logout from another tab, under Fastify) cannot bring it back", async () => {
    const r = rig();
    const sid = `s-${randomUUID()}`;
    await r.store.set(sid, sessionFor(60_000, { n: 1 }));
    // The slow request read the session, and its framework copied it key by key.
    const copy = { ...(await r.store.get(sid))! };
    // Another request of the same browser, in this process, logs out.
    await r.store.destroy(sid);
    await r.store.set(sid, { ...copy, n: 2 } as SessionData);
    expect(await r.store.get(sid)).toBeNull();
    // A second copy in flight, whose cookie ran out meanwhile, is saved (a delete, not a
    // revocation), then touched: the first copy's save after that is still refused.
    const expired = {
      ...copy,
      cookie: { ...copy.cookie, expires: new Date(Date.now() - 1000) },
    } as SessionData;
    await r.store.set(sid, expired);
    await r.store.touch(sid, expired);
    await r.store.set(sid, { ...copy, n: 3 } as SessionData);
    expect(await r.store.get(sid)).toBeNull();
  });

  it("a sid destroyed without ever being read, or read before clear(), is not stored again; a new sid is", async () => {
    const r = rig();
    const unread = `s-${randomUUID()}`;
    await r.store.set(unread, sessionFor(60_000, { n: 1 }));
    await r.store.destroy(unread);
    await r.store.set(unread, sessionFor(60_000, { n: 3 }));
    expect(await r.store.get(unread)).toBeNull();
    // Read, then everything cleared: what this process read is forgotten, Redis's marker is not.
    const read = `s-${randomUUID()}`;
    await r.store.set(read, sessionFor(60_000, { n: 1 }));
    await r.store.get(read);
    await r.store.clear();
    await r.store.set(read, sessionFor(60_000, { n: 4 }));
    expect(await r.store.get(read)).toBeNull();
    const fresh = `s-${randomUUID()}`;
    await r.store.set(fresh, sessionFor(60_000, { n: 5 }));
    expect(await r.store.get(fresh)).toMatchObject({ n: 5 });
  });
});

describe("maxSessionsPerUser under concurrent sign-ins", () => {
  it("30 concurrent sign-ins of one user with a cap of 2 leave exactly 2 live sessions, indexed and counted", async () => {
    const r = rig({}, 2);
    const user = `u-${randomUUID()}`;
    const logins = await Promise.all(Array.from({ length: 30 }, () => login(r.app, user)));
    const alive = (await Promise.all(logins.map((l) => whoAmI(r.app, l.cookie)))).filter(
      (who) => who === user,
    );
    expect(alive).toHaveLength(2);
    expect(await r.manager.activeSessions(user)).toHaveLength(2);
    expect(await redis.zcard(keysOf(r.store).userIndex(user))).toBe(2);
    expect((await new SessionStats(r.store).totals()).totalSessions).toBe(2);
    expect(await r.store.length()).toBe(2);
  });
});

describe("out of memory", () => {
  let server: SpawnedRedis;
  let oomClient: Redis;

  beforeAll(async () => {
    server = await spawnRedisServer({ args: ["--maxmemory-policy", "noeviction"] });
    oomClient = new Redis(server.url, { maxRetriesPerRequest: 0 });
  });

  afterAll(async () => {
    oomClient.disconnect();
    await server.dispose();
  });

  it("a signed-in write refused for memory is refused whole: nothing stored, the error reaches the caller; destroy still works", async () => {
    const store = new RelsRedisStore({ client: oomClient, namespace: `t-${randomUUID()}` });
    const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
    const app = signInApp(store, {
      onLogin: (userId, req) => manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 }),
    });
    const user = `u-${randomUUID()}`;
    const kept = await login(app, user);

    // Fill past a limit, then lower the limit under what is used: every write is now refused.
    await oomClient.set(`filler-${randomUUID()}`, "x".repeat(2_000_000));
    const used = Number(/used_memory:(\d+)/.exec(await oomClient.info("memory"))![1]);
    await oomClient.config("SET", "maxmemory", String(Math.floor(used / 2)));
    try {
      const keysBefore = await oomClient.dbsize();
      const anonymous = sessionFor(60_000, {});
      await expect(store.set(`a-${randomUUID()}`, anonymous)).rejects.toThrow(/OOM/);
      // A sign-in's write runs the filing script: refused before it changes anything.
      const signedIn = sessionFor(60_000, {
        _rels: { ...(await manager.activeSessions(user))[0], userId: `v-${randomUUID()}` },
      });
      await expect(store.set(`b-${randomUUID()}`, signedIn)).rejects.toThrow(/OOM/);
      // Through express-session: the response goes out (express-session writes it whatever the
      // save says), but no session was stored.
      const signIn = await request(app)
        .post("/login")
        .send({ userId: `v-${randomUUID()}` });
      expect(await whoAmI(app, signIn.headers["set-cookie"]![0]!.split(";")[0]!)).toBeNull();
      expect(await oomClient.dbsize()).toBe(keysBefore);
      // Signing out frees memory, so it works when memory is short.
      await store.destroy(kept.sid);
      expect(await whoAmI(app, kept.cookie)).toBeNull();
      expect(await manager.activeSessions(user)).toEqual([]);
    } finally {
      await oomClient.config("SET", "maxmemory", "0");
    }
  });
});

describe("upgrading from 0.1: sessions in layout 2 (a hash)", () => {
  it("are read, listed and counted, and move to layout 3 on their next write", async () => {
    const r = rig();
    const keys = keysOf(r.store);
    const user = `u-${randomUUID()}`;
    // What 0.1 wrote for a signed-in session: a hash, plus its index entry and stats count.
    const sid = `old-${randomUUID()}`;
    const hex = sha256(sid);
    const expiresAt = Date.now() + 3_600_000;
    const meta = {
      sessionId: r.manager.sessionIdOf({ sessionID: sid }),
      userId: user,
      applicationName: "Turtle",
      sessionKeyType: "cookie",
      clientPlatform: "web",
      signInAt: new Date().toISOString(),
      lastSeenAt: new Date().toISOString(),
      createdAt: new Date().toISOString(),
      expiresAt: new Date(expiresAt).toISOString(),
    };
    const session = {
      cookie: {
        originalMaxAge: 3_600_000,
        expires: new Date(expiresAt).toISOString(),
        httpOnly: true,
        path: "/",
      },
      userId: user,
      _rels: meta,
    };
    const key = keys.session(hex);
    const index = keys.userIndex(user);
    // 0.1 (and 0.2) counted every session in the one `{stats}` shard, read until it drains.
    const bucket = keys.statsBucketsOf("Turtle", "web").at(-1)!;
    await redis.hset(key, {
      d: JSON.stringify(session),
      e: String(expiresAt),
      m: JSON.stringify(meta),
      u: index,
      b: bucket,
    });
    await redis.pexpireat(key, expiresAt);
    await redis.zadd(index, expiresAt, hex);
    await redis.zadd(bucket, expiresAt, hex);
    await redis.sadd(keys.statsShards().at(-1)!.registry, bucket);

    expect(await r.store.get(sid)).toMatchObject({ userId: user });
    expect((await r.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([meta.sessionId]);
    expect((await new SessionStats(r.store).totals()).totalSessions).toBe(1);

    const loaded = (await r.store.get(sid))!;
    (loaded as unknown as Record<string, unknown>).visits = 1;
    await r.store.set(sid, loaded);
    expect(await redis.type(key)).toBe("string");
    expect(await r.store.get(sid)).toMatchObject({ userId: user, visits: 1 });
    expect((await r.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([meta.sessionId]);
    expect((await new SessionStats(r.store).totals()).totalSessions).toBe(1);

    // And a revocation of a moved session is final, as for any other.
    expect(await r.manager.logoutAllSessions(user)).toBe(1);
    expect(await r.store.get(sid)).toBeNull();
    expect((await new SessionStats(r.store).totals()).totalSessions).toBe(0);
  });
});

describe("upgrading from 0.1: a touch of a signed-in layout-2 session", () => {
  it("extends it and refiles its index entry (no script error), so it stays listed and revocable", async () => {
    const store = new RelsRedisStore({ client, namespace: `t-${randomUUID()}`, touchAfter: 0 });
    const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
    const keys = keysOf(store);
    const user = `u-${randomUUID()}`;
    const sid = `old-${randomUUID()}`;
    const hex = sha256(sid);
    const expiresAt = Date.now() + 60_000;
    const meta = {
      sessionId: manager.sessionIdOf({ sessionID: sid }),
      userId: user,
      applicationName: "Turtle",
      clientPlatform: "web",
      createdAt: new Date().toISOString(),
    };
    const session = {
      cookie: { originalMaxAge: 60_000, expires: new Date(expiresAt).toISOString() },
      _rels: meta,
    };
    const key = keys.session(hex);
    const index = keys.userIndex(user);
    await redis.hset(key, {
      d: JSON.stringify(session),
      e: String(expiresAt),
      m: JSON.stringify(meta),
      u: index,
      b: keys.statsBucketsOf("Turtle", "web").at(-1)!,
    });
    await redis.pexpireat(key, expiresAt);
    await redis.zadd(index, expiresAt, hex);

    const loaded = (await store.get(sid))!;
    await store.touch(sid, {
      ...loaded,
      cookie: { ...loaded.cookie, expires: new Date(Date.now() + 3_600_000) },
    } as SessionData);
    expect(await redis.pttl(key)).toBeGreaterThan(60_000);
    expect(Number(await redis.zscore(index, hex))).toBeGreaterThan(Date.now() + 60_000);
    expect((await manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([meta.sessionId]);
    expect(await manager.logoutAllSessions(user)).toBe(1);
  });
});

describe("the recent-reads cache is not what keeps a revocation", () => {
  it("a copy of a session read again, then pushed out of the cache by 10,000 other reads, cannot bring it back once revoked", async () => {
    const store = new RelsRedisStore({ client, namespace: `t-${randomUUID()}` });
    const other = new RelsRedisStore({ client, namespace: keysOf(store).namespace });
    const sid = `s-${randomUUID()}`;
    await store.set(sid, sessionFor(60_000, { n: 1 }));
    await store.get(sid);
    const others = Array.from({ length: 9_999 }, (_, i) => `o-${i}-${randomUUID()}`);
    for (let i = 0; i < others.length; i += 500) {
      await Promise.all(others.slice(i, i + 500).map((o) => store.set(o, sessionFor(60_000))));
      await Promise.all(others.slice(i, i + 500).map((o) => store.get(o)));
    }
    // A request reads it again (and copies it, as Fastify does); then one more session is
    // read, the 10,001st: the cache's bound may evict it. Redis's marker decides either way.
    const copy = { ...(await store.get(sid))! };
    const oneMore = `m-${randomUUID()}`;
    await store.set(oneMore, sessionFor(60_000));
    await store.get(oneMore);
    await other.destroy(sid);
    await store.set(sid, copy as SessionData);
    expect(await store.get(sid)).toBeNull();
  }, 60_000);
});

describe("repairFilings (what a Cluster failover triggers), on one server", () => {
  it("files a signed-in session whose index entry and count were lost, and runs again at the next failover (its lock is released)", async () => {
    const r = rig();
    const user = `u-${randomUUID()}`;
    const { hex } = await login(r.app, user);
    const keys = keysOf(r.store);
    // What a master lost in a failover: the entry and the count.
    await redis.zrem(keys.userIndex(user), hex);
    await dropStats(r.store);
    expect(await r.manager.activeSessions(user)).toEqual([]);
    expect(await recordsOf(r.store).repairFilings()).toBe(true);
    expect(await r.manager.activeSessions(user)).toHaveLength(1);
    expect((await new SessionStats(r.store).totals()).totalSessions).toBe(1);
    // The next failover, a moment later, is repaired too.
    await redis.zrem(keys.userIndex(user), hex);
    expect(await recordsOf(r.store).repairFilings()).toBe(true);
    expect(await r.manager.activeSessions(user)).toHaveLength(1);
  });
});
