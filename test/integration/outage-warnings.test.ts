/**
 * Without a logger, an outage is told once, as a process warning (`RELS_SESSION_REDIS_DOWN`),
 * and so is the recovery (`RELS_SESSION_REDIS_RECOVERED`), however many requests fail in
 * between; with a logger, the logger is told instead. Never a password or a session id.
 * Against a redis-server of this file's own, stopped and restarted; its `app` user has a
 * password, so the pool really authenticates with one.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type express from "express";
import request from "supertest";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OUTAGE_WARNING_CODES, createRelsSession, type RelsSessionInstance } from "../../src/index.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { appSession, expectSessionCookie, sessionApp, sidOf } from "../support/express-app.js";

const PASSWORD = "outage-pw-never-shown";
const COMMAND_TIMEOUT = 500;

let server: SpawnedRedis;
let sessions: RelsSessionInstance | undefined;
const warnings: Error[] = [];
const onWarning = (warning: Error) => {
  if (String((warning as { code?: unknown }).code).startsWith("RELS_SESSION_REDIS")) warnings.push(warning);
};

beforeAll(async () => {
  // An ACL user with a password; the default user stays open for the helper's readiness polls.
  server = await spawnRedisServer({ args: ["--user", "app", "on", `>${PASSWORD}`, "~*", "&*", "+@all"] });
  process.on("warning", onWarning);
});

afterEach(async () => {
  await sessions?.close();
  sessions = undefined;
  warnings.length = 0;
});

afterAll(async () => {
  process.off("warning", onWarning);
  await server?.dispose();
});

function codes(): string[] {
  return warnings.map((w) => String((w as { code?: unknown }).code));
}

/** Readiness, not a sleep: check every ~50 ms until `done` holds or the deadline passes. */
async function pollUntil(
  what: string,
  done: () => boolean | Promise<boolean>,
  deadlineMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await delay(50);
  }
}

function buildApp(instance: RelsSessionInstance): express.Express {
  const app = sessionApp(instance.store);
  app.use(instance.requireSession());
  app.post("/login", (req, res) => {
    appSession(req).userId = "alice";
    res.json({ ok: true });
  });
  app.get("/me", (req, res) => {
    res.json({ userId: appSession(req).userId ?? null });
  });
  return app;
}

describe("outage warnings without a logger", () => {
  it("one warning when Redis goes down, none for the failing requests after it, one when it is back", async () => {
    sessions = createRelsSession(
      {
        applicationName: "Turtle",
        redisOptions: {
          url: `redis://app:${PASSWORD}@127.0.0.1:${server.port}`,
          namespace: `t-warn-${randomUUID()}`,
          commandTimeout: COMMAND_TIMEOUT,
        },
      },
      { env: {} },
    );
    await sessions.ready();
    const app = buildApp(sessions);
    const cookie = expectSessionCookie(await request(app).post("/login").expect(200));
    const sid = sidOf(cookie);
    await request(app).get("/me").set("Cookie", cookie).expect(200, { userId: "alice" });
    expect(warnings).toEqual([]);

    // ---- outage: requests keep coming; exactly one warning
    await server.stop();
    await pollUntil("the outage warning", async () => {
      const res = await request(app).get("/me").set("Cookie", cookie);
      expect([200, 503]).toContain(res.status);
      return codes().includes(OUTAGE_WARNING_CODES.down);
    });
    for (let i = 0; i < 20; i++) await request(app).get("/me").set("Cookie", cookie).expect(503);
    // A few of the breaker's probe periods (1 s each), with requests and calls straight to
    // the manager's data, which fail fast while the circuit is open.
    const reopenings = Date.now() + 2_500;
    await pollUntil("a few probe periods", async () => {
      await request(app).get("/me").set("Cookie", cookie).expect(503);
      await sessions!.stats.totals().catch(() => undefined);
      return Date.now() > reopenings;
    });
    expect(codes()).toEqual([OUTAGE_WARNING_CODES.down]);
    const down = warnings[0]!;
    expect(down.name).toBe("Warning");
    expect(down.message).toContain(`127.0.0.1:${server.port}`);
    expect(down.message).toMatch(/^rels-session: Redis is unavailable\. /);

    // ---- recovery: one warning, and the session is served again (the server kept nothing on disk)
    await server.restart();
    await pollUntil("the recovery warning", async () => {
      await request(app).get("/me").set("Cookie", cookie);
      return codes().includes(OUTAGE_WARNING_CODES.recovered);
    });
    for (let i = 0; i < 5; i++) await request(app).get("/me").set("Cookie", cookie).expect(200);
    expect(codes()).toEqual([OUTAGE_WARNING_CODES.down, OUTAGE_WARNING_CODES.recovered]);
    expect(warnings[1]!.message).toBe(`rels-session: Redis at 127.0.0.1:${server.port} answers again`);

    for (const warning of warnings) {
      expect(warning.message).not.toContain(PASSWORD);
      expect(warning.message).not.toContain(sid);
      expect(warning.message).not.toContain(cookie);
    }
  });
});

describe("outage warnings with a logger", () => {
  it("go to logger.warn, once each, and not to process warnings", async () => {
    const logged: { details: Record<string, unknown>; message: string }[] = [];
    const logger = {
      warn: (details: object, message: string) =>
        logged.push({ details: details as Record<string, unknown>, message }),
      error: () => undefined,
    };
    sessions = createRelsSession(
      {
        applicationName: "Turtle",
        redisOptions: {
          url: `redis://app:${PASSWORD}@127.0.0.1:${server.port}`,
          namespace: `t-warn-${randomUUID()}`,
          commandTimeout: COMMAND_TIMEOUT,
        },
      },
      { env: {}, logger },
    );
    await sessions.ready();
    await server.stop();
    await pollUntil("the outage log line", async () => {
      await sessions!.stats.totals().catch(() => undefined);
      return logged.length > 0;
    });
    for (let i = 0; i < 10; i++) await sessions.stats.totals().catch(() => undefined);
    await server.restart();
    await pollUntil("the recovery log line", async () => {
      await sessions!.stats.totals().catch(() => undefined);
      return logged.length > 1;
    });
    expect(logged.map((l) => l.details.code)).toEqual([
      OUTAGE_WARNING_CODES.down,
      OUTAGE_WARNING_CODES.recovered,
    ]);
    expect(logged[0]!.details).toMatchObject({ address: `127.0.0.1:${server.port}` });
    expect(logged[0]!.message).toContain(`127.0.0.1:${server.port}`);
    expect(JSON.stringify(logged)).not.toContain(PASSWORD);
    expect(warnings).toEqual([]);
  });
});

describe("outageWarnings: false (the CLI, which reports its own errors)", () => {
  it("tells nothing, where the default tells the same outage once", async () => {
    const open = async (instance: RelsSessionInstance) => {
      await pollUntil("the circuit opens", async () => {
        await instance.stats.totals().catch(() => undefined);
        return instance.breakerState === "open";
      });
      // Process warnings are emitted on the next tick.
      await new Promise((resolve) => process.nextTick(resolve));
    };
    const redisOptions = {
      url: "redis://127.0.0.1:1",
      namespace: `t-warn-${randomUUID()}`,
      commandTimeout: COMMAND_TIMEOUT,
    };
    sessions = createRelsSession(
      { applicationName: "Turtle", redisOptions },
      { env: {}, outageWarnings: false },
    );
    await open(sessions);
    expect(warnings).toEqual([]);
    await sessions.close();

    sessions = createRelsSession({ applicationName: "Turtle", redisOptions }, { env: {} });
    await open(sessions);
    expect(codes()).toEqual([OUTAGE_WARNING_CODES.down]);
    expect(warnings[0]!.message).toContain("127.0.0.1:1");
  });
});
