/**
 * Redis going away and coming back, through the shared pool of `RelsSession.configure()`:
 * calls fail with `RedisUnavailableError` within the command deadline instead of hanging,
 * requests still get an answer, and the store recovers once Redis is back.
 *
 * Uses its own redis-server (spawnRedisServer), never the shared one: it stops and pauses it.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import type express from "express";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RedisUnavailableError, RelsSession, type RelsRedisStore } from "../../src/index.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { appSession, expectSessionCookie, sessionApp } from "../support/express-app.js";

const COMMAND_TIMEOUT = 500;
/** A hang check, not a speed test: a failing call must settle well within this. */
const HANG_BOUND = 3 * COMMAND_TIMEOUT;

/** `POST /login` signs in on the session as it is; `GET /me` also says whether the request had a session. */
function buildApp(store: RelsRedisStore): express.Express {
  const app = sessionApp(store);
  app.post("/login", (req, res) => {
    appSession(req).userId = String(req.body.userId);
    res.json({ ok: true });
  });
  // express-session leaves req.session unset while the store is disconnected.
  app.get("/me", (req, res) => {
    res.json({
      hasSession: req.session !== undefined,
      userId: req.session ? (appSession(req).userId ?? null) : null,
    });
  });
  return app;
}

function newSession(extra: Record<string, unknown> = {}): SessionData {
  return {
    cookie: {
      originalMaxAge: 60_000,
      expires: new Date(Date.now() + 60_000).toISOString(),
      httpOnly: true,
      path: "/",
    },
    ...extra,
  } as unknown as SessionData;
}

/** How long `promise` took to settle, and how. */
async function timed<T>(promise: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await promise;
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

/** Readiness, not a sleep: try `attempt` every ~100 ms until it succeeds or the deadline passes. */
async function pollUntil<T>(what: string, attempt: () => Promise<T>, deadlineMs = 15_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await attempt();
    } catch (error) {
      last = error;
    }
    await delay(100);
  }
  throw new Error(`${what}: not ready within ${deadlineMs} ms`, { cause: last });
}

let server: SpawnedRedis;
let store: RelsRedisStore;
let events: string[];

beforeAll(async () => {
  server = await spawnRedisServer();
});

afterAll(async () => {
  await RelsSession.close();
  await server?.dispose();
});

beforeEach(() => {
  RelsSession.configure({
    applicationName: "T",
    redisOptions: { url: server.url, namespace: `t-${randomUUID()}`, commandTimeout: COMMAND_TIMEOUT },
  });
  store = RelsSession.store();
  events = [];
  store.on("connect", () => events.push("connect"));
  store.on("disconnect", () => events.push("disconnect"));
});

afterEach(async () => {
  await RelsSession.close();
});

describe("Redis stops, then comes back", () => {
  it("fails fast with RedisUnavailableError, keeps answering requests, and recovers", async () => {
    const app = buildApp(store);
    const sid = randomUUID();
    await store.set(sid, newSession({ n: 1 }));
    expect(await store.get(sid)).toMatchObject({ n: 1 });
    const cookie = expectSessionCookie(
      await request(app).post("/login").send({ userId: "alice" }).expect(200),
    );
    expect((await request(app).get("/me").set("Cookie", cookie).expect(200)).body).toEqual({
      hasSession: true,
      userId: "alice",
    });

    // ---- outage
    const disconnected = once(store, "disconnect");
    await server.stop();
    await disconnected;
    expect(events).toContain("disconnect");

    const read = await timed(store.get(sid));
    expect(read.error).toBeInstanceOf(RedisUnavailableError);
    expect(read.ms).toBeLessThan(HANG_BOUND);

    const write = await timed(store.set(randomUUID(), newSession()));
    expect(write.error).toBeInstanceOf(RedisUnavailableError);
    expect(write.ms).toBeLessThan(HANG_BOUND);

    // express-session skips the store while it is disconnected: the request is answered,
    // without a session (200 from this route, which tolerates a missing req.session).
    const during = await timed(
      request(app)
        .get("/me")
        .set("Cookie", cookie)
        .timeout(5 * HANG_BOUND)
        .then((res) => res),
    );
    expect(during.error).toBeUndefined();
    expect(during.ms).toBeLessThan(HANG_BOUND);
    expect(during.value!.status).toBe(200);
    expect(during.value!.body).toEqual({ hasSession: false, userId: null });

    // ---- recovery (the server keeps nothing on disk: what was written before is gone)
    await server.restart();
    await pollUntil("store.get after restart", () => store.get(sid));
    expect(events.lastIndexOf("connect")).toBeGreaterThan(events.indexOf("disconnect"));

    const fresh = randomUUID();
    await store.set(fresh, newSession({ n: 2 }));
    expect(await store.get(fresh)).toMatchObject({ n: 2 });
    const again = expectSessionCookie(await request(app).post("/login").send({ userId: "bob" }).expect(200));
    expect((await request(app).get("/me").set("Cookie", again).expect(200)).body).toEqual({
      hasSession: true,
      userId: "bob",
    });
  });
});

describe("Redis accepts connections but does not answer", () => {
  it("a call fails with RedisUnavailableError within the command deadline (CLIENT PAUSE)", async () => {
    const app = buildApp(store);
    const sid = randomUUID();
    await store.set(sid, newSession({ n: 1 }));
    expect(await store.get(sid)).toMatchObject({ n: 1 });
    const cookie = expectSessionCookie(
      await request(app).post("/login").send({ userId: "alice" }).expect(200),
    );

    const admin = new Redis(server.url);
    try {
      // Longer than both calls below take together, so both run while Redis is silent.
      await admin.client("PAUSE", 2000, "ALL");
      const [read, served] = await Promise.all([
        timed(store.get(sid)),
        // The store still counts as connected, so express-session asks it and gets the error.
        timed(
          request(app)
            .get("/me")
            .set("Cookie", cookie)
            .timeout(5 * HANG_BOUND)
            .then((res) => res),
        ),
      ]);
      expect(read.error).toBeInstanceOf(RedisUnavailableError);
      expect(read.ms).toBeGreaterThanOrEqual(COMMAND_TIMEOUT - 50);
      expect(read.ms).toBeLessThan(HANG_BOUND);
      expect(served.error).toBeUndefined();
      expect(served.ms).toBeLessThan(HANG_BOUND);
      expect(served.value!.status).toBe(500);
      // Readiness: PING is answered once the pause is over.
      await admin.ping();
    } finally {
      admin.disconnect();
    }
    expect(await store.get(sid)).toMatchObject({ n: 1 });
  });
});

describe("Redis stops answering long enough to open the circuit", () => {
  it("fails fast while silent, then closes the circuit by itself when Redis answers again", async () => {
    const sid = randomUUID();
    await store.set(sid, newSession({ n: 1 }));
    const admin = new Redis(server.url);
    try {
      // Five calls time out (the breaker's threshold); the connection itself never drops,
      // so no "ready" event will come: only the breaker's own probe can close it again.
      await admin.client("PAUSE", 3 * COMMAND_TIMEOUT + 1500, "ALL");
      const attempts = await Promise.all(Array.from({ length: 5 }, () => timed(store.get(sid))));
      for (const attempt of attempts) expect(attempt.error).toBeInstanceOf(RedisUnavailableError);
      expect(events).toContain("disconnect");
      const fast = await timed(store.get(sid));
      expect(fast.error).toBeInstanceOf(RedisUnavailableError);
      expect(fast.ms).toBeLessThan(COMMAND_TIMEOUT / 2);
      await pollUntil("the circuit closes after the pause", async () => {
        if (!events.includes("connect")) throw new Error("no connect event yet");
      });
    } finally {
      admin.disconnect();
    }
    expect(await store.get(sid)).toMatchObject({ n: 1 });
  });
});

describe("Redis answers but refuses writes (a replica after a failover)", () => {
  it("keeps the circuit open until writes work again, without flapping", async () => {
    const sid = randomUUID();
    await store.set(sid, newSession({ n: 1 }));
    const admin = new Redis(server.url);
    try {
      await admin.replicaof("127.0.0.1", 1);
      for (let i = 0; i < 5; i++)
        await expect(store.set(sid, newSession({ n: i }))).rejects.toBeInstanceOf(RedisUnavailableError);
      expect(events).toEqual(["disconnect"]);
      // Two probe periods: a PING would succeed here and close the circuit; the probe's write must not.
      const until = Date.now() + 2_500;
      await pollUntil("two probe periods", async () => {
        if (Date.now() < until) throw new Error("waiting");
      });
      expect(events).toEqual(["disconnect"]);
      await admin.replicaof("NO", "ONE");
      await pollUntil("the circuit closes once writes work", async () => {
        if (!events.includes("connect")) throw new Error("no connect event yet");
      });
    } finally {
      await admin.replicaof("NO", "ONE").catch(() => undefined);
      admin.disconnect();
    }
    await store.set(sid, newSession({ n: 9 }));
    expect(await store.get(sid)).toMatchObject({ n: 9 });
  });
});
