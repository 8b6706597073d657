/**
 * The store's contract, written once and run against every setup (standalone, prefixed,
 * msgpack, compressed, Cluster, Sentinel): `describeStoreContract(name, makeStore)`.
 */
import { keysOf } from "./internals.js";
import { createHash, randomBytes } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import type { SessionData } from "express-session";
import { describe, expect, it, afterAll, vi } from "vitest";
import type { RelsRedisStore } from "../../src/index.js";
import {
  createRelsSession,
  InvalidSessionIdError,
  SessionPayloadTooLargeError,
  type Logger,
  type RelsRedisStoreOptions,
  type SessionStoreConfigInput,
} from "../../src/index.js";

export interface StoreUnderTest {
  store: RelsRedisStore;
  /** A plain client on the same Redis, for looking at what the store wrote. */
  redis: Redis | Cluster;
}

export type MakeStore = (
  options: Omit<RelsRedisStoreOptions, "client" | "source">,
) => Promise<StoreUnderTest>;

export interface ConfiguredStoreSetup {
  applicationName: string;
  /** Where to connect, asked when each store is made (the servers start in `beforeAll`); the namespace is the test's. */
  redisOptions: () => Omit<SessionStoreConfigInput["redisOptions"], "namespace">;
  /** The plain client of `StoreUnderTest.redis`. */
  redis: () => Redis | Cluster;
  /** Where each configured pool's own `close` goes, for the file to call at its end. */
  opened: Array<() => Promise<unknown>>;
}

/**
 * Stores made from a configuration, as `RelsSession.configure` makes them (through
 * `createRelsSession`, which it calls). A contract test may keep two stores alive at once
 * (say `store` and `other`), so each is an instance of its own, closed at the end of the file.
 */
export function viaConfiguredInstance(setup: ConfiguredStoreSetup): MakeStore {
  return async (options) => {
    const { namespace, logger, ...storeOptions } = options;
    // One instance per store: what RelsSession.configure() builds, without replacing the
    // process-wide default (a test may hold two stores at once).
    const instance = createRelsSession(
      {
        applicationName: setup.applicationName,
        redisOptions: {
          ...setup.redisOptions(),
          namespace: namespace ?? `t-${randomBytes(6).toString("hex")}`,
        },
        store: storeOptions as SessionStoreConfigInput["store"],
      },
      { env: {}, ...(logger ? { logger } : {}) },
    );
    setup.opened.push(() => instance.close());
    return { store: instance.store, redis: setup.redis() };
  };
}

export function newSid(): string {
  return randomBytes(24).toString("base64url");
}

export function sessionFor(maxAgeMs = 60_000, data: Record<string, unknown> = {}): SessionData {
  return {
    cookie: { originalMaxAge: maxAgeMs, expires: new Date(Date.now() + maxAgeMs), httpOnly: true, path: "/" },
    ...data,
  } as unknown as SessionData;
}

/** The hex sha256 of a sid: the private id the store must file it under, computed apart from src/ids.ts. */
export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function describeStoreContract(
  name: string,
  makeStore: MakeStore,
  teardown?: () => Promise<void>,
): void {
  describe(`store contract: ${name}`, () => {
    afterAll(async () => {
      await teardown?.();
    });

    const make = (options: Omit<RelsRedisStoreOptions, "client" | "source"> = {}) =>
      makeStore({ namespace: `t-${randomBytes(6).toString("hex")}`, ...options });

    describe("get / set / destroy", () => {
      it("misses with null, in both callback and promise form", async () => {
        const { store } = await make();
        expect(await store.get(newSid())).toBeNull();
        const viaCallback = await new Promise((resolve, reject) =>
          store.get(newSid(), (error, value) => (error ? reject(error as Error) : resolve(value))),
        );
        expect(viaCallback).toBeNull();
      });

      it("round-trips a session and its cookie", async () => {
        const { store } = await make();
        const sid = newSid();
        await store.set(sid, sessionFor(60_000, { user: { id: 7, name: "Ada" }, list: [1, 2, 3] }));
        const loaded = (await store.get(sid)) as SessionData & { user: unknown; list: unknown };
        expect(loaded.user).toEqual({ id: 7, name: "Ada" });
        expect(loaded.list).toEqual([1, 2, 3]);
        expect(new Date(loaded.cookie.expires as unknown as string).getTime()).toBeGreaterThan(Date.now());
      });

      it("set and destroy answer through callbacks too, errors included", async () => {
        const { store } = await make();
        const sid = newSid();
        await new Promise<void>((resolve, reject) =>
          store.set(sid, sessionFor(), (e) => (e ? reject(e as Error) : resolve())),
        );
        expect(await store.get(sid)).not.toBeNull();
        await new Promise<void>((resolve, reject) =>
          store.destroy(sid, (e) => (e ? reject(e as Error) : resolve())),
        );
        expect(await store.get(sid)).toBeNull();
        const error = await new Promise((resolve) => store.set("2::abc", sessionFor(), resolve));
        expect(error).toBeInstanceOf(InvalidSessionIdError);
      });

      it("sets the Redis TTL from cookie.expires", async () => {
        const { store, redis } = await make();
        const sid = newSid();
        await store.set(sid, sessionFor(120_000));
        const pttl = await redis.pttl(keysOf(store).session(sha256(sid)));
        expect(pttl).toBeGreaterThan(110_000);
        expect(pttl).toBeLessThanOrEqual(120_000);
      });

      it("uses `ttl` seconds when the cookie has no expiry, and a ttl function when given", async () => {
        const { store, redis } = await make({ ttl: 300 });
        const sid = newSid();
        await store.set(sid, { cookie: { originalMaxAge: null } } as unknown as SessionData);
        expect(await redis.pttl(keysOf(store).session(sha256(sid)))).toBeGreaterThan(290_000);

        const byFunction = (await make({ ttl: () => 42 })).store;
        const sid2 = newSid();
        await byFunction.set(sid2, sessionFor(600_000));
        const pttl = await redis.pttl(keysOf(byFunction).session(sha256(sid2)));
        expect(pttl).toBeGreaterThan(40_000);
        expect(pttl).toBeLessThanOrEqual(42_000);
      });

      it("keeps sessions forever with disableTTL", async () => {
        const { store, redis } = await make({ disableTTL: true });
        const sid = newSid();
        await store.set(sid, sessionFor(1000));
        expect(await redis.pttl(keysOf(store).session(sha256(sid)))).toBe(-1);
      });

      it("deletes on a set whose cookie already expired (express-session's contract)", async () => {
        const { store } = await make();
        const sid = newSid();
        await store.set(sid, sessionFor());
        await store.set(sid, sessionFor(-1000));
        expect(await store.get(sid)).toBeNull();
      });

      it("destroys, and destroying a missing session is fine", async () => {
        const { store } = await make();
        const sid = newSid();
        await store.set(sid, sessionFor());
        await store.destroy(sid);
        expect(await store.get(sid)).toBeNull();
        await expect(store.destroy(newSid())).resolves.toBeUndefined();
      });
    });

    describe("private ids", () => {
      it("stores under 2::sha256(sid) and writes the sid nowhere", async () => {
        const { store, redis } = await make();
        const sid = newSid();
        await store.set(sid, sessionFor(60_000, { note: "hello" }));
        const key = keysOf(store).session(sha256(sid));
        expect(key).toContain(`{2::${sha256(sid)}}`);
        const stored = await redis.getBuffer(key);
        expect(stored?.length).toBeGreaterThan(33);
        expect(stored!.includes(sid)).toBe(false);
        expect(await store.get(sid)).toMatchObject({ note: "hello" });
        expect(key).not.toContain(sid);
        expect(await store.ids()).toEqual([`2::${sha256(sid)}`]);
      });

      it("refuses a sid shaped like a private id", async () => {
        const { store } = await make();
        await expect(store.get("2::deadbeef")).rejects.toBeInstanceOf(InvalidSessionIdError);
        await expect(store.set("10::x", sessionFor())).rejects.toBeInstanceOf(InvalidSessionIdError);
        await expect(store.destroy("2::x")).rejects.toBeInstanceOf(InvalidSessionIdError);
      });
    });

    describe("touch", () => {
      it("extends the TTL when due, and never recreates a destroyed session", async () => {
        const { store, redis } = await make({ touchAfter: 0 });
        const sid = newSid();
        const key = keysOf(store).session(sha256(sid));
        await store.set(sid, sessionFor(10_000));
        await store.touch(sid, sessionFor(300_000));
        expect(await redis.pttl(key)).toBeGreaterThan(200_000);
        await store.destroy(sid);
        await store.touch(sid, sessionFor(300_000));
        expect(await redis.exists(key)).toBe(0);
      });

      it("sends nothing within touchAfter of the last write", async () => {
        const { store, redis } = await make({ touchAfter: 60 });
        const sid = newSid();
        const key = keysOf(store).session(sha256(sid));
        await store.set(sid, sessionFor(100_000));
        const loaded = (await store.get(sid))!;
        // What express-session does: build req.session from the loaded data, then touch it.
        const req = { sessionID: sid, sessionStore: store } as never;
        const reqSession = store.createSession(req, loaded);
        reqSession.cookie.maxAge = 130_000;
        await store.touch(sid, reqSession as unknown as SessionData);
        expect(await redis.pttl(key)).toBeLessThanOrEqual(100_000);
      });

      it("does nothing with disableTouch", async () => {
        const { store, redis } = await make({ disableTouch: true, touchAfter: 0 });
        const sid = newSid();
        await store.set(sid, sessionFor(10_000));
        await store.touch(sid, sessionFor(300_000));
        expect(await redis.pttl(keysOf(store).session(sha256(sid)))).toBeLessThanOrEqual(10_000);
      });
    });

    describe("no resurrection", () => {
      it("refuses a late save after destroy", async () => {
        const { store } = await make();
        const sid = newSid();
        await store.set(sid, sessionFor(60_000, { n: 1 }));
        const loadedByASlowRequest = (await store.get(sid))!;
        await store.destroy(sid);
        (loadedByASlowRequest as unknown as { n: number }).n = 2;
        await store.set(sid, loadedByASlowRequest);
        expect(await store.get(sid)).toBeNull();
      });
    });

    describe("all / ids / length / clear / listSessions", () => {
      it("sees exactly this store's sessions, streaming page by page", async () => {
        const { store } = await make({ scanCount: 2 });
        const other = (await make()).store;
        const sids = Array.from({ length: 7 }, newSid);
        for (const sid of sids) await store.set(sid, sessionFor(60_000, { mine: true }));
        await other.set(newSid(), sessionFor());

        expect(await store.length()).toBe(7);
        expect((await store.ids()).sort()).toEqual(sids.map((s) => `2::${sha256(s)}`).sort());
        const all = await store.all();
        expect(all).toHaveLength(7);
        expect(all.every((s) => (s as unknown as { mine: boolean }).mine)).toBe(true);
        let streamed = 0;
        for await (const entry of store.listSessions({ stream: true })) {
          expect(entry.privateId).toMatch(/^2::[0-9a-f]{64}$/);
          streamed += 1;
        }
        expect(streamed).toBe(7);
        expect(await store.listSessions()).toHaveLength(7);

        await store.clear();
        expect(await store.length()).toBe(0);
        expect(await other.length()).toBe(1);
      });

      it("escapes glob characters of the prefix", async () => {
        const ns = `t-${randomBytes(4).toString("hex")}`;
        const star = (await makeStore({ namespace: ns, prefix: `${ns}:a*:` })).store;
        const plain = (await makeStore({ namespace: ns, prefix: `${ns}:ab:` })).store;
        await star.set(newSid(), sessionFor());
        await plain.set(newSid(), sessionFor());
        await plain.set(newSid(), sessionFor());
        expect(await star.length()).toBe(1);
        expect(await plain.length()).toBe(2);
      });
    });

    describe("extra API", () => {
      it("findSession, peekSession, findSessions (deduplicated), deleteSessions", async () => {
        const { store } = await make();
        const [a, b, missing] = [newSid(), newSid(), newSid()];
        await store.set(a, sessionFor(60_000, { who: "a" }));
        await store.set(b, sessionFor(60_000, { who: "b" }));
        expect(((await store.findSession(a)) as unknown as { who: string }).who).toBe("a");
        const raw = await store.peekSession(a);
        expect(raw).not.toBeNull();
        const found = await store.findSessions([a, b, a, missing]);
        expect(found.size).toBe(3);
        expect((found.get(b) as unknown as { who: string }).who).toBe("b");
        expect(found.get(missing)).toBeNull();
        expect(await store.deleteSessions([a, b, missing])).toBe(2);
        expect(await store.get(a)).toBeNull();
      });
    });

    describe("bad data is a miss, not a crash", () => {
      const logger = () => {
        const warn = vi.fn<Logger["warn"]>();
        return { warn, error: vi.fn<Logger["error"]>() };
      };

      it("treats an unreadable payload as no session, logs once, removes it", async () => {
        const log = logger();
        const { store, redis } = await make({ logger: log });
        const sid = newSid();
        const key = keysOf(store).session(sha256(sid));
        await redis.hset(key, "d", "{not json");
        expect(await store.get(sid)).toBeNull();
        expect(log.warn).toHaveBeenCalledTimes(1);
        expect(JSON.stringify(log.warn.mock.calls)).not.toContain(sid);
        expect(await redis.exists(key)).toBe(0);
      });

      it("treats a wrongly-shaped payload (no cookie) and a key of another type as misses", async () => {
        const { store, redis } = await make();
        const [shapeless, wrongType] = [newSid(), newSid()];
        await redis.hset(keysOf(store).session(sha256(shapeless)), "d", JSON.stringify({ user: 1 }));
        await redis.set(keysOf(store).session(sha256(wrongType)), "a plain string");
        expect(await store.get(shapeless)).toBeNull();
        expect(await store.get(wrongType)).toBeNull();
      });

      it("treats a record header whose expiry no Date can hold, or whose numbers are not digits, as a miss", async () => {
        const { store, redis } = await make();
        const payload = JSON.stringify({
          cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() },
        });
        // 8640000000000001 ms is a safe integer one past the last ms a Date holds.
        const headers = [
          `38640000000000001${"0".repeat(16)}\t\n`,
          `3${"0".repeat(15)}x${"0".repeat(16)}\t\n`,
          `3${"1".repeat(16)}${"9".repeat(16)}\t\n`,
        ];
        for (const header of headers) {
          const sid = newSid();
          const key = keysOf(store).session(sha256(sid));
          await redis.set(key, header + payload, "PX", 60_000);
          expect(await store.get(sid)).toBeNull();
          expect(await redis.exists(key)).toBe(0);
        }
      });

      it("treats a cookie with badly typed fields as corrupt (express-session would throw mid-request)", async () => {
        const { store, redis } = await make();
        const cases = [
          { originalMaxAge: "abc" },
          { originalMaxAge: 1000, expires: "not a date" },
          { expires: 42 },
          { originalMaxAge: 1000, maxAge: "abc" },
          { originalMaxAge: 1000, sameSite: "sometimes" },
          { originalMaxAge: 1000, path: "/\n" },
        ];
        for (const cookie of cases) {
          const sid = newSid();
          const key = keysOf(store).session(sha256(sid));
          await redis.hset(key, "d", JSON.stringify({ cookie }));
          expect(await store.get(sid)).toBeNull();
          expect(await redis.exists(key)).toBe(0);
        }
      });

      it("drops prototype-polluting keys", async () => {
        const { store, redis } = await make();
        const sid = newSid();
        const payload = `{"cookie":{"originalMaxAge":1000},"__proto__":{"polluted":true},"nested":{"constructor":{"prototype":{"x":1}},"ok":1}}`;
        await redis.hset(keysOf(store).session(sha256(sid)), "d", payload);
        // Every setup reads JSON (the built-in serializers recognise each other's formats).
        const loaded = (await store.get(sid)) as unknown as Record<string, unknown>;
        expect(loaded).not.toBeNull();
        expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
        expect(Object.hasOwn(loaded, "__proto__")).toBe(false);
        expect(loaded.nested).toEqual({ ok: 1 });
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });

      it("refuses payloads over maxPayloadBytes and writes nothing", async () => {
        const { store } = await make({ maxPayloadBytes: 1024 });
        const sid = newSid();
        await expect(
          store.set(sid, sessionFor(60_000, { blob: randomBytes(4000).toString("base64") })),
        ).rejects.toBeInstanceOf(SessionPayloadTooLargeError);
        expect(await store.get(sid)).toBeNull();
      });
    });

    describe("migration from plain-sid keys", () => {
      it("reads a legacy key, moves it on the next write, and destroy deletes both", async () => {
        const { store, redis } = await make({ legacyFallback: true, serializer: "json" });
        const sid = newSid();
        const legacyKey = keysOf(store).legacy(sid);
        await redis.set(
          legacyKey,
          JSON.stringify(sessionFor(60_000, { from: "connect-redis" })),
          "PX",
          60_000,
        );
        const loaded = (await store.get(sid)) as unknown as { from: string };
        expect(loaded.from).toBe("connect-redis");
        await store.set(sid, loaded as unknown as SessionData);
        expect(await redis.exists(legacyKey)).toBe(0);
        expect(await redis.exists(keysOf(store).session(sha256(sid)))).toBe(1);

        const other = newSid();
        await redis.set(keysOf(store).legacy(other), JSON.stringify(sessionFor()), "PX", 60_000);
        await store.destroy(other);
        expect(await redis.exists(keysOf(store).legacy(other))).toBe(0);
      });

      it("stops reading legacy keys once the migration flag says done", async () => {
        const namespace = `t-${randomBytes(6).toString("hex")}`;
        const { store, redis } = await makeStore({
          namespace,
          legacyFallback: true,
          serializer: "json",
          ttl: 60,
          legacyTtl: 60,
        });
        await redis.set(keysOf(store).migrationFlag(), String(Date.now() - 61_000));
        const sid = newSid();
        await redis.set(keysOf(store).legacy(sid), JSON.stringify(sessionFor()), "PX", 60_000);
        expect(await store.get(sid)).toBeNull();
      });

      it("mirrors writes to the plain key when asked", async () => {
        const { store, redis } = await make({ mirrorWrites: true, serializer: "json" });
        const sid = newSid();
        await store.set(sid, sessionFor(60_000, { mirrored: 1 }));
        expect(JSON.parse((await redis.get(keysOf(store).legacy(sid)))!)).toMatchObject({ mirrored: 1 });
      });
    });
  });
}
