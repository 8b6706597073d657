/**
 * Cases found in review: settings that change under stored sessions, migration from
 * plain-sid keys with revocations, odd `ttl` values, and sorted sets that must not outgrow
 * their live sessions.
 */
import { keysOf, storedMetaOf } from "../support/internals.js";
import { storesForThisFile } from "../support/stores.js";
import { randomUUID } from "node:crypto";
import type { SessionData } from "express-session";
import { describe, expect, inject, it } from "vitest";
import { RelsSession, type RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { SessionStats } from "../../src/stats/stats.js";
import { streamSessions } from "../../src/users/stream.js";
import { newSid, sessionFor, sha256 } from "../support/store-contract.js";

const url = inject("redisUrl");
const { inspector, storeWith } = storesForThisFile();

/** Sign `userId` in on a fresh sid, as express-session would save it at the end of the request. */
async function signIn(
  store: RelsRedisStore,
  manager: RelsSessionsManager,
  userId: string,
  maxAgeMs = 60_000,
) {
  const sid = newSid();
  const session = sessionFor(maxAgeMs);
  await manager.recordAuthenticatedRequest(userId, {
    sessionID: sid,
    session,
    ip: "192.0.2.7",
    headers: {},
  } as never);
  await store.set(sid, session);
  return sid;
}

describe("settings that change under stored sessions", () => {
  const big = { blob: "abc".repeat(500) };

  it("a session written compressed is read by a store without compression", async () => {
    const namespace = `t-${randomUUID()}`;
    const sid = newSid();
    await storeWith({ namespace, compressThreshold: 64 }).set(sid, sessionFor(60_000, big));
    expect(await storeWith({ namespace }).get(sid)).toMatchObject(big);
  });

  it("a session written as msgpack is read by a json store, and the other way round", async () => {
    const namespace = `t-${randomUUID()}`;
    const [packed, text] = [newSid(), newSid()];
    await storeWith({ namespace, serializer: "msgpack" }).set(packed, sessionFor(60_000, { n: 1 }));
    await storeWith({ namespace }).set(text, sessionFor(60_000, { n: 2 }));
    expect(await storeWith({ namespace }).get(packed)).toMatchObject({ n: 1 });
    expect(await storeWith({ namespace, serializer: "msgpack" }).get(text)).toMatchObject({ n: 2 });
  });
});

describe("ttl", () => {
  it("accepts a ttl function giving fractional seconds, for signed-in sessions too", async () => {
    const store = storeWith({ ttl: () => 10.5 });
    const sid = await signIn(store, new RelsSessionsManager({ store, applicationName: "T" }), "u-frac");
    const pttl = await inspector.pttl(keysOf(store).session(sha256(sid)));
    expect(pttl).toBeGreaterThan(9_000);
    expect(pttl).toBeLessThanOrEqual(10_500);
  });

  it("refuses a ttl that is not a number, writing nothing", async () => {
    const store = storeWith({ ttl: () => Number.NaN });
    const sid = newSid();
    await expect(store.set(sid, sessionFor())).rejects.toThrow(/lifetime is not a number/);
    expect(await inspector.exists(keysOf(store).session(sha256(sid)))).toBe(0);
  });
});

describe("the index and the stats never outgrow their live sessions", () => {
  it("prunes expired members on every signed-in write, without a list or a totals() call", async () => {
    const store = storeWith();
    const manager = new RelsSessionsManager({ store, applicationName: "T" });
    for (let i = 0; i < 20; i++) await signIn(store, manager, "u-grow", 50);
    const index = keysOf(store).userIndex("u-grow");
    const deadline = Date.now() + 5_000;
    while ((await inspector.zrangebyscore(index, Date.now(), "+inf")).length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await signIn(store, manager, "u-grow", 60_000);
    expect(await inspector.zcard(index)).toBe(1);
    const counts = await Promise.all(
      keysOf(store)
        .statsBucketsOf("T", "web")
        .map((bucket) => inspector.zcard(bucket)),
    );
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
  });
});

describe("streamSessions", () => {
  it("reports the expiry Redis holds, which follows touches, not the one stored at the last write", async () => {
    const store = storeWith({ touchAfter: 0 });
    const sid = await signIn(
      store,
      new RelsSessionsManager({ store, applicationName: "T" }),
      "u-stream",
      60_000,
    );
    await store.touch(sid, sessionFor(3_600_000));
    const streamed = [];
    for await (const meta of streamSessions(store, 10)) streamed.push(meta);
    expect(streamed).toHaveLength(1);
    expect(streamed[0]!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 3_000_000);
  });
});

describe("migration from plain-sid keys", () => {
  it("a revoked session does not come back through its mirrored plain-sid copy", async () => {
    const store = storeWith({ legacyFallback: true, mirrorWrites: true });
    const manager = new RelsSessionsManager({ store, applicationName: "T" });
    const sid = await signIn(store, manager, "u-mirror");
    expect(await inspector.exists(keysOf(store).legacy(sid))).toBe(1);
    const [listed] = await manager.activeSessions("u-mirror");
    expect(await manager.logoutSession("u-mirror", listed!.sessionId)).toBe(true);
    expect(await store.get(sid)).toBeNull();
    expect(await inspector.exists(keysOf(store).legacy(sid))).toBe(0);
  });

  it("an unchanged request moves a plain-sid session to its private key (the touch moves it)", async () => {
    const store = storeWith({ legacyFallback: true });
    const sid = newSid();
    await inspector.set(
      keysOf(store).legacy(sid),
      JSON.stringify(sessionFor(60_000, { from: "connect-redis" })),
      "PX",
      60_000,
    );
    const loaded = (await store.get(sid))!;
    const reqSession = store.createSession({ sessionID: sid, sessionStore: store } as never, loaded);
    await store.touch(sid, reqSession as unknown as SessionData);
    expect(await inspector.exists(keysOf(store).session(sha256(sid)))).toBe(1);
    expect(await inspector.exists(keysOf(store).legacy(sid))).toBe(0);
    expect(await store.get(sid)).toMatchObject({ from: "connect-redis" });
  });
});

describe("RelsSession.configure keeps the app's own objects", () => {
  it("passes a class-based serializer and a ttl function through unchanged", async () => {
    class Tagged {
      readonly #tag = "v1:";
      stringify(value: unknown): string {
        return this.#tag + JSON.stringify(value);
      }
      parse(text: string): unknown {
        return JSON.parse(text.slice(this.#tag.length));
      }
    }
    let asked = 0;
    RelsSession.configure({
      applicationName: "T",
      redisOptions: { url, namespace: `t-${randomUUID()}` },
      store: { serializer: new Tagged(), ttl: () => ((asked += 1), 120) },
    });
    try {
      const store = RelsSession.store();
      const sid = newSid();
      await store.set(sid, sessionFor(60_000, { n: 7 }));
      expect(String(await store.peekSession(sid))).toMatch(/^v1:/);
      expect(await store.get(sid)).toMatchObject({ n: 7 });
      expect(asked).toBeGreaterThan(0);
      expect(await new SessionStats(store).totals()).toMatchObject({ totalSessions: 0 });
    } finally {
      await RelsSession.close();
    }
  });

  it("uses the logger given as store.logger", async () => {
    const warnings: string[] = [];
    const logger = {
      warn: (_details: object, message: string) => warnings.push(message),
      error: () => undefined,
    };
    RelsSession.configure({
      applicationName: "T",
      redisOptions: { url, namespace: `t-${randomUUID()}` },
      store: { logger },
    });
    try {
      const store = RelsSession.store();
      const sid = newSid();
      await inspector.hset(keysOf(store).session(sha256(sid)), "d", "{broken");
      expect(await store.get(sid)).toBeNull();
      expect(warnings).toEqual(["rels-session: removed a corrupt session"]);
    } finally {
      await RelsSession.close();
    }
  });
});

describe("second review", () => {
  it("an app serializer whose output starts with `{` or a NUL byte is read with its own parse", async () => {
    const envelope = {
      stringify: (v: unknown) => JSON.stringify({ json: v, meta: 1 }),
      parse: (s: string) => (JSON.parse(s) as { json: unknown }).json,
    };
    const nul = {
      stringify: (v: unknown) => `\u0000${JSON.stringify(v)}`,
      parse: (s: string) => JSON.parse(s.slice(1)) as unknown,
    };
    for (const serializer of [envelope, nul]) {
      const store = storeWith({ serializer });
      const sid = newSid();
      await store.set(sid, sessionFor(60_000, { n: 3 }));
      expect(await store.get(sid)).toMatchObject({ n: 3 });
    }
  });

  it("a touch that moves a plain-sid session never overwrites a newer save of it", async () => {
    const store = storeWith({ legacyFallback: true });
    const sid = newSid();
    await inspector.set(
      keysOf(store).legacy(sid),
      JSON.stringify(sessionFor(60_000, { cart: [] })),
      "PX",
      60_000,
    );
    const [a, b] = [(await store.get(sid))!, (await store.get(sid))!];
    const req = { sessionID: sid, sessionStore: store } as never;
    const [sessionA, sessionB] = [store.createSession(req, a), store.createSession(req, b)];
    (sessionB as unknown as { cart: string[] }).cart = ["book"];
    await store.set(sid, sessionB as unknown as SessionData);
    await store.touch(sid, sessionA as unknown as SessionData);
    expect(await store.get(sid)).toMatchObject({ cart: ["book"] });
  });

  it("a plain-sid session that carries metadata (an old process kept it alive) is still served", async () => {
    const store = storeWith({ legacyFallback: true });
    const sid = newSid();
    const data = sessionFor(60_000, { _rels: { userId: "u-old", applicationName: "T" } });
    await inspector.set(keysOf(store).legacy(sid), JSON.stringify(data), "PX", 60_000);
    const served = await store.get(sid);
    expect(served).toMatchObject({ cookie: { originalMaxAge: 60_000 } });
    // The metadata moves beside the session (never in its JSON) and into the record's section.
    expect(JSON.stringify(served)).not.toContain("u-old");
    expect(await inspector.exists(keysOf(store).legacy(sid))).toBe(1);
    await store.set(sid, served!);
    expect(await storedMetaOf(store, sid)).toMatchObject({ userId: "u-old" });
  });

  it("refuses an infinite or absurd ttl, writing nothing", async () => {
    for (const ttl of [() => Number.POSITIVE_INFINITY, () => 1e17]) {
      const store = storeWith({ ttl });
      const sid = newSid();
      await expect(store.set(sid, sessionFor())).rejects.toThrow(/at most 100 years/);
      expect(await inspector.exists(keysOf(store).session(sha256(sid)))).toBe(0);
    }
  });

  it("peekSession gives text for a text serializer", async () => {
    const store = storeWith();
    const sid = newSid();
    await store.set(sid, sessionFor(60_000, { n: 1 }));
    const raw = await store.peekSession(sid);
    expect(typeof raw).toBe("string");
    expect(JSON.parse(raw as string)).toMatchObject({ n: 1 });
  });
});
