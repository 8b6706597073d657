/**
 * One library instance per process and instance-first use: the ESM and CommonJS builds share
 * the default instance, `createRelsSession()` needs no module state, a client-less store uses
 * the configured pool, a reconfigured store says so, and a node-redis client is refused with
 * the way out. Against the shared test Redis, each case under its own namespace.
 */
import { randomUUID } from "node:crypto";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import {
  ConfigError,
  NotConfiguredError,
  RelsRedisStore,
  RelsSession,
  StoreReconfiguredError,
  createRelsSession,
} from "../../src/index.js";
import { bothBuilds } from "../support/dist.js";

const url = inject("redisUrl");
const namespaces: string[] = [];

function namespace(): string {
  const ns = `t-one-${randomUUID()}`;
  namespaces.push(ns);
  return ns;
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

afterEach(async () => {
  await RelsSession.close();
});

afterAll(async () => {
  // Our namespaces only: never anything else on a Redis we may not own.
  const redis = new Redis(url);
  try {
    for (const ns of namespaces) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${ns}*`, "COUNT", 500);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
    }
  } finally {
    redis.disconnect();
  }
});

describe("ESM and CommonJS builds", () => {
  it("share one default instance: configured from require(), used from import()", async () => {
    const { cjs, esm } = await bothBuilds();
    // Two copies of the code (that is the point of the test), one state.
    expect(esm.RelsSession === cjs.RelsSession).toBe(false);
    expect(esm.RelsSession.isConfigured).toBe(false);

    const ns = namespace();
    cjs.RelsSession.configure({ applicationName: "dual", redisOptions: { url, namespace: ns } });
    try {
      expect(esm.RelsSession.isConfigured).toBe(true);
      expect(esm.RelsSession.store() === cjs.RelsSession.store()).toBe(true);
      expect(esm.RelsSession.config.redisOptions.namespace).toBe(ns);

      const sid = randomUUID();
      await esm.RelsSession.store().set(sid, newSession({ from: "esm" }));
      expect(await cjs.RelsSession.store().get(sid)).toMatchObject({ from: "esm" });
      // And the source tree (a third copy) sees it too.
      expect(RelsSession.isConfigured).toBe(true);
    } finally {
      await esm.RelsSession.close();
    }
    expect(cjs.RelsSession.isConfigured).toBe(false);
  });
});

describe("createRelsSession", () => {
  it("gives instances of their own, with no default configured", async () => {
    const a = createRelsSession({ applicationName: "A", redisOptions: { url, namespace: namespace() } });
    const b = createRelsSession({ applicationName: "B", redisOptions: { url, namespace: namespace() } });
    try {
      expect(RelsSession.isConfigured).toBe(false);
      const sid = randomUUID();
      await a.store.set(sid, newSession({ owner: "a" }));
      expect(await a.store.get(sid)).toMatchObject({ owner: "a" });
      expect(await b.store.get(sid)).toBeNull();
      expect(a.breakerState).toBe("closed");
      expect(typeof a.requireSession).toBe("function");
      expect((await a.stats.totals()).totalSessions).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    await expect(a.store.get(randomUUID())).rejects.toThrow(StoreReconfiguredError);
  });
});

describe("new RelsRedisStore() without a client", () => {
  it("throws NotConfiguredError naming configure() before RelsSession.configure()", () => {
    expect(() => new RelsRedisStore()).toThrow(NotConfiguredError);
    expect(() => new RelsRedisStore()).toThrow(/RelsSession\.configure\(/);
  });

  it("uses the configured pool and namespace", async () => {
    RelsSession.configure({ applicationName: "pool", redisOptions: { url, namespace: namespace() } });
    const own = new RelsRedisStore({ ttl: 120 });
    expect(own).not.toBe(RelsSession.store());
    const sid = randomUUID();
    await own.set(sid, newSession({ via: "own store" }));
    // Same pool, same namespace and prefix: the configured store reads it.
    expect(await RelsSession.store().get(sid)).toMatchObject({ via: "own store" });
  });
});

describe("configuring a second time", () => {
  it("fails the first store's calls with a message saying it was reconfigured", async () => {
    RelsSession.configure({ applicationName: "first", redisOptions: { url, namespace: namespace() } });
    const first = RelsSession.store();
    await first.set(randomUUID(), newSession());
    RelsSession.configure({ applicationName: "second", redisOptions: { url, namespace: namespace() } });

    const error = await first.get(randomUUID()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreReconfiguredError);
    expect((error as Error).message).toMatch(/reconfigured/);
    expect((error as Error).message).not.toMatch(/pool is closed/);
    // The new store works.
    const sid = randomUUID();
    await RelsSession.store().set(sid, newSession({ n: 2 }));
    expect(await RelsSession.store().get(sid)).toMatchObject({ n: 2 });
  });
});

describe("a node-redis client as `client`", () => {
  it("is refused with a ConfigError saying an ioredis client is needed and how to make one", () => {
    // connect-redis 9 users hold one of these; it is never connected here.
    const nodeRedis = createClient({ url: "redis://:s3cret-pass@127.0.0.1:1" });
    let error: unknown;
    try {
      new RelsRedisStore({ client: nodeRedis as unknown as Redis });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/ioredis/);
    expect(message).toMatch(/node-redis/);
    expect(message).toContain("new Redis(url)");
    expect(message).not.toContain("s3cret-pass");
    expect((error as ConfigError).issues[0]?.path).toBe("store.client");
  });
});
