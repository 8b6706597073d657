/**
 * The manager contract's harness: one target, its app server, Redis helpers (per key,
 * Cluster-safe), and the fixtures and assertions every suite shares.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { expect, onTestFinished } from "vitest";
import { type AppOptions, buildApp, serve } from "./app.js";
import {
  ANDROID_APP,
  DESKTOP_WEB,
  Device,
  type Headers,
  IOS_APP,
  IOS_SIGN_IN,
  TWO_HOURS,
} from "./devices.js";
import type { RelsRedisStore } from "../../../src/express/store.js";
import { recordsOf } from "../../../src/record/of-store.js";
import type { RedisClient } from "../../../src/redis/source.js";
import { SessionStats } from "../../../src/stats/stats.js";
import type { RelsSessionsManager } from "../../../src/users/manager.js";
import { CLIENT_PLATFORMS, type ClientPlatform, type SessionMeta } from "../../../src/users/meta-schema.js";
import { keysOf, scanOf, sourceOf, storedMetaOf } from "../internals.js";

export interface ManagerContractTarget {
  store: RelsRedisStore;
  manager: RelsSessionsManager;
  /** The manager's `applicationName`, when the caller knows it: then it is asserted too. */
  applicationName?: string;
  close(): Promise<void>;
}

/** Gives each test a fresh target; see test/support/manager-contract.ts for what it must be. */
export type ManagerContractSetup = () => Promise<ManagerContractTarget>;

export interface Harness extends ManagerContractTarget {
  stats: SessionStats;
  base: string;
  /** Serve another app (say, with another manager on the same store); returns its base URL. */
  serve(manager: RelsSessionsManager, options?: AppOptions): Promise<string>;
  device(headers: Headers, base?: string): Device;
  redis<T>(operation: (client: RedisClient) => Promise<T>): Promise<T>;
  /** Raw ZRANGE of the user's index: no pruning on the way. */
  indexMembers(userId: string): Promise<string[]>;
  /** Raw ZRANGE of the stats bucket the session was counted in. */
  bucketMembers(meta: Pick<SessionMeta, "applicationName" | "clientPlatform">): Promise<string[]>;
  sessionExists(hex: string): Promise<boolean>;
  sessionKeys(): Promise<string[]>;
}

export async function openHarness(setup: ManagerContractSetup): Promise<Harness> {
  const target = await setup();
  const servers: Array<() => Promise<void>> = [];
  onTestFinished(async () => {
    for (const close of servers.reverse()) await close();
    await target.close();
  });
  const { store } = target;
  const startApp = async (manager: RelsSessionsManager, options: AppOptions = {}) => {
    const server = await serve(buildApp(store, manager, options));
    servers.push(server.close);
    return server.base;
  };
  const base = await startApp(target.manager);
  const redis = <T>(operation: (client: RedisClient) => Promise<T>) => sourceOf(store).run(operation);
  return {
    ...target,
    stats: new SessionStats(store),
    base,
    serve: startApp,
    device: (headers, at = base) => new Device(at, headers),
    redis,
    indexMembers: (userId) => redis((c) => c.zrange(keysOf(store).userIndex(userId), 0, -1)),
    bucketMembers: (meta) =>
      redis(async (c) =>
        (
          await Promise.all(
            keysOf(store)
              .statsBucketsOf(meta.applicationName, meta.clientPlatform)
              .map((bucket) => c.zrange(bucket, 0, -1)),
          )
        ).flat(),
      ),
    sessionExists: async (hex) => (await redis((c) => c.exists(keysOf(store).session(hex)))) === 1,
    sessionKeys: async () => {
      const keys: string[] = [];
      for await (const hexes of scanOf(store)) keys.push(...hexes.map((hex) => keysOf(store).session(hex)));
      return keys;
    },
  };
}

/** Poll `check` until it holds; fail with `what` past the deadline. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}

/** Poll the clock until it is past `ms`. */
export function clockPast(ms: number): Promise<void> {
  return waitFor(`the clock to pass ${new Date(ms).toISOString()}`, () => Date.now() > ms);
}

export interface ThreeDevices {
  ios: Device;
  android: Device;
  web: Device;
}

/** iOS app, Android app, desktop browser: signed in in that order, a few ms apart. */
export async function signInThreeDevices(h: Harness, userId: string, base = h.base): Promise<ThreeDevices> {
  const ios = h.device(IOS_APP, base);
  const android = h.device(ANDROID_APP, base);
  const web = h.device(DESKTOP_WEB, base);
  await ios.login(userId, { expiresAfter: TWO_HOURS, sessionKeyType: "token", signInAt: IOS_SIGN_IN });
  await clockPast(ios.meta.lastSeenAt.getTime() + 2);
  await android.login(userId, { expiresAfter: TWO_HOURS, sessionKeyType: "token" });
  await clockPast(android.meta.lastSeenAt.getTime() + 2);
  await web.login(userId, { expiresAfter: TWO_HOURS });
  return { ios, android, web };
}

/** The device's session is live: key, index entry, stats entry, and its next request is signed in. */
export async function expectSignedIn(h: Harness, device: Device, userId: string): Promise<void> {
  expect(await h.sessionExists(device.hex), "session key").toBe(true);
  expect(await h.indexMembers(userId), "user index").toContain(device.hex);
  expect(await h.bucketMembers(device.meta), "stats bucket").toContain(device.hex);
  const account = await device.account();
  expect(account.status).toBe(200);
  expect(account.user).toBe(userId);
  expect(account.sessions.filter((s) => s.current).map((s) => s.sessionId)).toEqual([device.handle]);
}

/** The device's session is gone everywhere, without any reconcile, and its next request has no user. */
export async function expectEnded(h: Harness, device: Device, userId: string): Promise<void> {
  expect(await h.sessionExists(device.hex), "session key").toBe(false);
  expect(await h.indexMembers(userId), "user index").not.toContain(device.hex);
  expect(await h.bucketMembers(device.meta), "stats bucket").not.toContain(device.hex);
  const account = await device.account();
  expect(account.status).toBe(401);
  expect(account.user).toBeNull();
}

export async function totalSessions(h: Harness): Promise<number> {
  return (await h.stats.totals()).totalSessions;
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export function codePoints(value: string | null): number {
  return value === null ? 0 : [...value].length;
}

export function newUser(label = "user"): string {
  return `${label}-${randomUUID()}`;
}

export const emptyByPlatform = (): Record<ClientPlatform, number> =>
  Object.fromEntries(CLIENT_PLATFORMS.map((p) => [p, 0])) as Record<ClientPlatform, number>;

/**
 * Rewrite a device's session as 0.1 stored it (layout 2: a hash of payload `d`, expiry `e`,
 * meta `m`, index `u`, bucket `b`), with its metadata replaced by `metaJson` as given.
 */
export async function storeAsLayout2(h: Harness, device: Device, metaJson: string): Promise<void> {
  const keys = keysOf(h.store);
  const key = keys.session(device.hex);
  const rest = (await h.store.get(device.sid)) as unknown as Record<string, unknown>;
  const current = await storedMetaOf(h.store, device.sid);
  const link = current as Pick<SessionMeta, "userId" | "applicationName" | "clientPlatform">;
  const payload = `${JSON.stringify(rest).slice(0, -1)},"_rels":${metaJson}}`;
  const record = await recordsOf(h.store).read(device.hex);
  const expiresAt = record && typeof record === "object" ? record.header.expiresAt! : 0;
  await h.redis((c) => c.del(key));
  await h.redis((c) =>
    c.hset(key, {
      d: payload,
      e: String(expiresAt),
      m: metaJson,
      u: keys.userIndex(link.userId),
      b: keys.statsBucket(link.applicationName, link.clientPlatform, device.hex),
    }),
  );
  await h.redis((c) => c.pexpireat(key, expiresAt));
}

/** An index entry with no session behind it (what a crash on Cluster can leave). */
export async function addIndexEntry(
  store: RelsRedisStore,
  user: string,
  hex: string,
  expiresAt: Date,
): Promise<void> {
  const index = keysOf(store).userIndex(user);
  await sourceOf(store).run((c) => c.zadd(index, expiresAt.getTime(), hex));
}
