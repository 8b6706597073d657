/**
 * Boot-time checks against real servers: `ready()` resolves against a working Redis (7.0
 * here: its version accepted, asked once per pool), and rejects fast, with host:port and the
 * reason, when Redis is down (127.0.0.1:1) or refuses the database asked for; never with the
 * password. And a route's Redis errors come out as 503 through `redisErrorHandler()`.
 * Uses a redis-server of its own, so the INFO counts below are this file's alone.
 */
import { randomUUID } from "node:crypto";
import type express from "express";
import request from "supertest";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  NotConfiguredError,
  RedisConnectionError,
  RelsSession,
  StoreReconfiguredError,
  createRelsSession,
  type RelsSessionInstance,
  type SessionStoreConfigInput,
} from "../../src/index.js";
import { versionVerdict } from "../../src/redis/server-version.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { parseInfo, redisCall } from "../helpers/redis/client.js";
import { appSession, expectSessionCookie, regenerate, sessionApp } from "../support/express-app.js";

/** Long, so that failing well inside it shows the first reported error ended the wait. */
const COMMAND_TIMEOUT = 3000;
/** A hang check, not a speed test. */
const FAST = COMMAND_TIMEOUT / 2;
const PASSWORD = "pw-that-must-never-show";

let server: SpawnedRedis;
const instances: RelsSessionInstance[] = [];

beforeAll(async () => {
  server = await spawnRedisServer();
});

afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.close()));
  await RelsSession.close();
});

afterAll(async () => {
  await server?.dispose();
});

function instance(redisOptions: SessionStoreConfigInput["redisOptions"], size = 1): RelsSessionInstance {
  const made = createRelsSession(
    {
      applicationName: "Turtle",
      redisOptions: {
        namespace: `t-ready-${randomUUID()}`,
        commandTimeout: COMMAND_TIMEOUT,
        ...redisOptions,
      },
      connectionPoolOptions: { size },
    },
    { env: {} },
  );
  instances.push(made);
  return made;
}

/** How the promise failed, and how long it took. */
async function failure(promise: Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const started = performance.now();
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error("expected the promise to reject");
  return { error, ms: performance.now() - started };
}

/** INFO calls the server has answered so far (any connection), asked on a connection that sends nothing else. */
async function infoCalls(): Promise<number> {
  const stats = parseInfo(String(await redisCall(server, "INFO", "commandstats")));
  return Number(/calls=(\d+)/.exec(stats.get("cmdstat_info") ?? "")?.[1] ?? 0);
}

describe("ready()", () => {
  it("resolves against a working Redis 7.0, whose version the pool asks once (not per call)", async () => {
    const served = versionVerdict(String(await redisCall(server, "INFO", "server")));
    expect(served.found).toMatch(/^Redis 7\./);
    expect(served.supported).toBe(true);

    const before = await infoCalls();
    const sessions = instance({ url: server.url }, 2);
    await sessions.ready();
    await sessions.ready();
    await sessions.stats.totals();
    // One INFO per connection is ioredis's own ready check (2 connections); one is the version
    // check, once per pool; the `INFO commandstats` that asked `before` is the last one.
    expect((await infoCalls()) - before).toBe(1 + 2 + 1);
  });

  it("Redis down (127.0.0.1:1): a RedisConnectionError naming host:port and the reason, without the password, at once", async () => {
    const sessions = instance({ url: `redis://:${PASSWORD}@127.0.0.1:1/0` });
    const { error, ms } = await failure(sessions.ready());
    expect(error).toBeInstanceOf(RedisConnectionError);
    expect(error).toMatchObject({ address: "127.0.0.1:1", reason: "connection refused" });
    expect(error.message).toMatch(/^Cannot connect to Redis at 127\.0\.0\.1:1: connection refused/);
    expect(error.message).not.toContain(PASSWORD);
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(PASSWORD);
    expect(ms).toBeLessThan(FAST);
    // Asking again says the same, still at once.
    const again = await failure(sessions.ready());
    expect(again.error).toMatchObject({ reason: "connection refused" });
    expect(again.ms).toBeLessThan(FAST);
  });

  it("a database the server does not have (/99): refused, naming host:port, instead of serving database 0", async () => {
    const sessions = instance({ url: `redis://127.0.0.1:${server.port}/99` });
    const { error, ms } = await failure(sessions.ready());
    expect(error).toBeInstanceOf(RedisConnectionError);
    expect(error).toMatchObject({ address: `127.0.0.1:${server.port}`, reason: "database refused" });
    expect(error.message).toContain(`127.0.0.1:${server.port}`);
    expect(ms).toBeLessThan(FAST);
    // The same through the `db` option.
    const viaOption = instance({ url: server.url, db: 99 });
    expect((await failure(viaOption.ready())).error).toMatchObject({ reason: "database refused" });
  });

  it("RelsSession.ready(): NotConfiguredError before configure, resolves after, StoreReconfiguredError for a closed instance", async () => {
    await expect(RelsSession.ready()).rejects.toBeInstanceOf(NotConfiguredError);
    RelsSession.configure(
      { applicationName: "Turtle", redisOptions: { url: server.url, namespace: `t-ready-${randomUUID()}` } },
      { env: {} },
    );
    await RelsSession.ready();
    const closed = instance({ url: server.url });
    await closed.close();
    await expect(closed.ready()).rejects.toBeInstanceOf(StoreReconfiguredError);
  });
});

describe("the first sign-in with Redis down from the start", () => {
  it("answers 503 with Retry-After (redisErrorHandler), not a 500 with a stack trace", async () => {
    const down = instance({ url: "redis://127.0.0.1:1" });
    const app = sessionApp(down.store);
    app.use(down.requireSession());
    // A sign-in regenerates the session (no fixation): the store's destroy fails first.
    app.post("/login", async (req, res) => {
      await regenerate(req);
      appSession(req).userId = "alice";
      res.json({ ok: true });
    });
    app.use(down.redisErrorHandler());
    const res = await request(app).post("/login").set("Accept", "application/json").expect(503);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.body).toMatchObject({ error: "session_unavailable" });
  });
});

describe("redisErrorHandler() with Redis down", () => {
  it("answers a route's RedisUnavailableError (activeSessions, logoutOtherSessions) with 503 + Retry-After; other errors go on", async () => {
    const up = instance({ url: server.url });
    const down = instance({ url: "redis://127.0.0.1:1" });
    const app = sessionApp(up.store);
    app.post("/login", (req, res) => {
      appSession(req).userId = "alice";
      res.json({ ok: true });
    });
    // The routes use a manager whose Redis is down, as an app's would be in an outage.
    app.get("/devices", async (_req, res) => {
      res.json(await down.manager.activeSessions("alice"));
    });
    app.post("/logout-others", async (req, res) => {
      res.json({ ended: await down.manager.logoutOtherSessions("alice", req) });
    });
    app.get("/bug", () => {
      throw new Error("a bug of the app's");
    });
    app.use(up.redisErrorHandler({ retryAfterSeconds: 7 }));
    // Express's own handler, after ours: what it sees was passed on.
    const passedOn: string[] = [];
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      passedOn.push(err.message);
      res.status(500).json({ error: "internal" });
    });

    const cookie = expectSessionCookie(await request(app).post("/login").expect(200));
    for (const [method, path] of [
      ["get", "/devices"],
      ["post", "/logout-others"],
    ] as const) {
      const res = await request(app)
        [method](path)
        .set("Cookie", cookie)
        .set("Accept", "application/json")
        .expect(503);
      expect(res.headers["retry-after"]).toBe("7");
      expect(res.body).toMatchObject({ error: "session_unavailable", retryAfter: 7 });
      expect(JSON.stringify(res.body)).not.toContain("127.0.0.1");
    }
    await request(app).get("/bug").expect(500);
    expect(passedOn).toEqual(["a bug of the app's"]);
  });
});
