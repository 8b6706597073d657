/**
 * Tracing channels and the OpenTelemetry bridge, read back for real: diagnostics_channel
 * subscribers see store operations (by handle, never the sid), revocations and breaker
 * changes; a MeterProvider with a pull reader collects the gauges, histogram and counters.
 * Against the shared test Redis under its own namespace, except the breaker case, which
 * kills a redis-server of its own.
 */
import { randomUUID } from "node:crypto";
import { channel, tracingChannel } from "node:diagnostics_channel";
import { setTimeout as delay } from "node:timers/promises";
import type express from "express";
import type { SessionData } from "express-session";
import { MeterProvider, MetricReader, type DataPoint, type MetricData } from "@opentelemetry/sdk-metrics";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Redis } from "ioredis";
import { RelsRedisStore, createRelsSession, privateId, type RelsSessionInstance } from "../../src/index.js";
import { CHANNEL_NAMES, STORE_OPERATIONS } from "../../src/observability/channels.js";
import { sessionHandle } from "../../src/ids.js";
import { registerRelsSessionMetrics } from "../../src/opentelemetry.js";
import { spawnRedisServer } from "../helpers/redis.js";
import { expectSessionCookie, signInApp, sidOf } from "../support/express-app.js";
import { deleteNamespace } from "../support/cleanup.js";

const url = inject("redisUrl");
const namespace = `t-obs-${randomUUID()}`;
const APPLICATION = "Obs";
const IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const DESKTOP =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

let sessions: RelsSessionInstance;
let app: express.Express;

beforeAll(() => {
  sessions = createRelsSession({ applicationName: APPLICATION, redisOptions: { url, namespace } });
  app = signInApp(sessions.store, {
    onLogin: (userId, req) =>
      sessions.manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 }),
  });
});

afterAll(async () => {
  await sessions.close();
  await deleteNamespace(url, namespace);
});

async function signIn(userId: string, userAgent: string): Promise<string> {
  const res = await request(app).post("/login").set("User-Agent", userAgent).send({ userId }).expect(200);
  return expectSessionCookie(res);
}

function newSession(): SessionData {
  return {
    cookie: {
      originalMaxAge: 60_000,
      expires: new Date(Date.now() + 60_000).toISOString(),
      httpOnly: true,
      path: "/",
    },
  } as unknown as SessionData;
}

interface Seen {
  readonly channel: string;
  readonly phase: string;
  readonly context: Record<string, unknown>;
}

/** Subscribe to every phase of `names`; returns what was seen and how to stop. */
function watch(names: readonly string[]): { seen: Seen[]; stop(): void } {
  const seen: Seen[] = [];
  const stops: Array<() => void> = [];
  for (const name of names) {
    const traced = tracingChannel<unknown, Record<string, unknown>>(name);
    // `handle` is a getter (computed on first read): copy it beside the own fields.
    const at = (phase: string) => (context: Record<string, unknown>) =>
      void seen.push({
        channel: name,
        phase,
        context: { ...context, ...("handle" in context ? { handle: context.handle } : {}) },
      });
    const handlers = {
      start: at("start"),
      end: at("end"),
      asyncStart: at("asyncStart"),
      asyncEnd: at("asyncEnd"),
      error: at("error"),
    };
    traced.subscribe(handlers);
    stops.push(() => traced.unsubscribe(handlers));
  }
  return { seen, stop: () => stops.forEach((stop) => stop()) };
}

describe("tracing channels", () => {
  it("trace get, set, touch and destroy with the session's handle, never its sid", async () => {
    const sid = randomUUID();
    const hex = privateId(sid).slice(3);
    const watcher = watch(STORE_OPERATIONS.map(CHANNEL_NAMES.store));
    try {
      await sessions.store.set(sid, newSession());
      const loaded = await sessions.store.get(sid);
      await sessions.store.touch(sid, loaded!);
      await sessions.store.destroy(sid);
    } finally {
      watcher.stop();
    }
    for (const operation of STORE_OPERATIONS) {
      const events = watcher.seen.filter((s) => s.channel === CHANNEL_NAMES.store(operation));
      expect(
        events.map((e) => e.phase),
        operation,
      ).toEqual(expect.arrayContaining(["start", "asyncEnd"]));
      for (const e of events) {
        expect(e.context.operation).toBe(operation);
        expect(e.context.handle).toBe(sessionHandle(hex));
      }
    }
    const everything = JSON.stringify(watcher.seen);
    expect(everything).not.toContain(sid);
    expect(everything).not.toContain(hex);
  });

  it("trace a failed operation as an error, still without the sid", async () => {
    const watcher = watch([CHANNEL_NAMES.store("get")]);
    const refused = "2::shaped-like-a-private-id";
    try {
      await expect(sessions.store.get(refused)).rejects.toThrow();
    } finally {
      watcher.stop();
    }
    expect(watcher.seen.map((e) => e.phase)).toContain("error");
    expect(JSON.stringify(watcher.seen.map((e) => ({ ...e.context, error: undefined })))).not.toContain(
      refused,
    );
  });

  it("trace a set or touch refused before it reaches Redis as settled with an error (asyncEnd), as metrics need", async () => {
    const client = new Redis(url);
    const store = new RelsRedisStore({ client, namespace, maxPayloadBytes: 200 });
    const ttl = () => {
      throw new Error("ttl refused");
    };
    const throwingTtl = new RelsRedisStore({ client, namespace, ttl });
    const refusals: Array<["set" | "touch", () => Promise<unknown>]> = [
      ["set", () => store.set(randomUUID(), { ...newSession(), big: "x".repeat(1000) } as SessionData)],
      ["set", () => store.set("2::shaped-like-a-private-id", newSession())],
      ["set", () => throwingTtl.set(randomUUID(), newSession())],
      ["touch", () => throwingTtl.touch(randomUUID(), newSession())],
    ];
    for (const [operation, refuse] of refusals) {
      const watcher = watch([CHANNEL_NAMES.store(operation)]);
      try {
        await expect(refuse()).rejects.toThrow();
      } finally {
        watcher.stop();
      }
      expect(watcher.seen.map((e) => e.phase)).toEqual(["start", "end", "error", "asyncStart", "asyncEnd"]);
    }
    await client.quit();
  });

  it("trace revocations with their kind and how many ended", async () => {
    const user = `obs-${randomUUID()}`;
    await signIn(user, IPHONE);
    await signIn(user, DESKTOP);
    const watcher = watch([CHANNEL_NAMES.revoke]);
    try {
      expect(await sessions.manager.logoutAllSessions(user)).toBe(2);
    } finally {
      watcher.stop();
    }
    const end = watcher.seen.find((e) => e.phase === "asyncEnd");
    expect(end?.context).toMatchObject({ operation: "revoke", kind: "all", result: 2 });
  });

  it("publish breaker state changes when Redis goes away and comes back", async () => {
    const server = await spawnRedisServer();
    const own = createRelsSession({
      applicationName: APPLICATION,
      redisOptions: { url: server.url, namespace, commandTimeout: 500 },
    });
    const states: string[] = [];
    const onState = (message: unknown) => void states.push((message as { state: string }).state);
    const breaker = channel(CHANNEL_NAMES.breaker);
    breaker.subscribe(onState);
    try {
      await own.store.set(randomUUID(), newSession());
      await server.kill();
      await pollUntil("the breaker to open", () => states.includes("open"));
      expect(own.breakerState).not.toBe("closed");
      await server.restart();
      await pollUntil("the breaker to close", () => states.lastIndexOf("closed") > states.indexOf("open"));
      expect(own.breakerState).toBe("closed");
    } finally {
      breaker.unsubscribe(onState);
      await own.close();
      await server.dispose();
    }
  }, 30_000);
});

/** A pull reader: `collect()` on demand, as Prometheus scrapes. */
class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function collect(reader: PullReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
}

function point<T>(
  metric: MetricData | undefined,
  attributes: Record<string, string>,
): DataPoint<T> | undefined {
  const points = (metric?.dataPoints ?? []) as Array<DataPoint<T>>;
  return points.find(
    (p) =>
      Object.keys(p.attributes).length === Object.keys(attributes).length &&
      Object.entries(attributes).every(([k, v]) => p.attributes[k] === v),
  );
}

describe("OpenTelemetry bridge", () => {
  it("reports live totals, latencies, revocations and breaker state", async () => {
    const reader = new PullReader();
    const provider = new MeterProvider({ readers: [reader] });
    const bridge = registerRelsSessionMetrics(sessions, { meter: provider.getMeter("test") });
    try {
      const before = (await sessions.stats.totals()).totalSessions;
      const phoneUser = `m-${randomUUID()}`;
      const deskUser = `m-${randomUUID()}`;
      await signIn(phoneUser, IPHONE);
      const desk = await signIn(deskUser, DESKTOP);
      await request(app).get("/me").set("Cookie", desk).expect(200);
      expect(sidOf(desk)).not.toBe("");
      expect(await sessions.manager.logoutAllSessions(phoneUser)).toBe(1);

      const metrics = await collect(reader);
      const live = metrics.get("rels_session.sessions.live");
      const totals = await sessions.stats.totals();
      expect(totals.totalSessions).toBe(before + 1);
      expect(point<number>(live, {})?.value).toBe(totals.totalSessions);
      expect(point<number>(live, { application: APPLICATION })?.value).toBe(
        totals.byApplication[APPLICATION],
      );
      expect(point<number>(live, { platform: "web" })?.value).toBe(totals.byPlatform.web);
      expect(point<number>(live, { platform: "mobile_web" })?.value).toBe(totals.byPlatform.mobile_web);

      const duration = metrics.get("rels_session.operation.duration");
      for (const operation of ["get", "set", "destroy"]) {
        const h = point<{ count: number; sum: number }>(duration, { operation, outcome: "ok" });
        expect(h?.value.count, operation).toBeGreaterThan(0);
        expect(h?.value.sum, operation).toBeGreaterThanOrEqual(0);
      }
      expect(point<number>(metrics.get("rels_session.revocations"), { kind: "all" })?.value).toBe(1);

      const breaker = metrics.get("rels_session.breaker.state");
      expect(point<number>(breaker, { state: "closed" })?.value).toBe(1);
      expect(point<number>(breaker, { state: "open" })?.value).toBe(0);
    } finally {
      bridge.unregister();
      await provider.shutdown();
    }
  });

  it("stops listening on unregister()", async () => {
    const reader = new PullReader();
    const provider = new MeterProvider({ readers: [reader] });
    const bridge = registerRelsSessionMetrics(sessions, { meter: provider.getMeter("test-2") });
    bridge.unregister();
    try {
      await sessions.store.get(randomUUID());
      const metrics = await collect(reader);
      expect(metrics.get("rels_session.operation.duration")?.dataPoints ?? []).toEqual([]);
      expect(metrics.get("rels_session.sessions.live")?.dataPoints ?? []).toEqual([]);
    } finally {
      await provider.shutdown();
    }
  });
});

async function pollUntil(what: string, done: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (done()) return;
    await delay(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}
