/**
 * Revoked means revoked on Redis Cluster (3 masters + 3 replicas, spawned for this file):
 * - the revocation suite every topology runs (test/support/revocation-suite.ts);
 * - a follow-up refused for memory (the index's master, or the stats' master, at maxmemory)
 *   leaves no live unlisted or uncounted session;
 * - copies saved racing revocations from another connection: live = listed = counted = 0;
 * - a master killed under traffic: no acknowledged revocation comes back, and once repaired
 *   every live signed-in session is listed.
 * The kill runs last: it leaves the cluster with one master fewer than it started with.
 */
import { randomBytes } from "node:crypto";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { SessionStats } from "../../src/stats/stats.js";
import { sessionHandle } from "../../src/ids.js";
import type { RedisEndpoint } from "../helpers/redis.js";
import { clusterForThisFile } from "../support/cluster-file.js";
import {
  describeOutcome,
  expectEveryOperationSettled,
  failoverUnderLoad,
  resurrected,
} from "../support/failover-load.js";
import { keysOf } from "../support/internals.js";
import { describeRevocationSuite } from "../support/revocation-suite.js";
import { newSid, sessionFor, sha256 } from "../support/store-contract.js";

const file = clusterForThisFile();
const redis = file.inspector;
const clusterPool = () => file.pool();

const freshNamespace = () => `c-${randomBytes(6).toString("hex")}`;

function signedIn(
  user: string,
  sid: string,
  clientPlatform = "web",
  data: Record<string, unknown> = {},
): SessionData {
  const now = new Date();
  return sessionFor(600_000, {
    ...data,
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

/** The master serving `key` (asked from the cluster, not from a client's slot cache), as a plain client of that node. */
async function masterOf(key: string): Promise<{ endpoint: RedisEndpoint; node: Redis }> {
  const slot = Number(await redis().cluster("KEYSLOT", key));
  const ranges = (await redis().cluster("SLOTS")) as unknown as Array<
    [number, number, [string, number, ...unknown[]], ...unknown[]]
  >;
  const owner = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
  if (!owner) throw new Error(`no master for slot ${slot}`);
  let node = direct.get(owner[1]);
  if (!node) {
    node = new Redis({ host: owner[0], port: owner[1] });
    // A node a crash test killed: its client's reconnect errors are expected.
    node.on("error", () => undefined);
    direct.set(owner[1], node);
    file.closeLater(async () => node!.disconnect());
  }
  return { endpoint: { host: owner[0], port: owner[1] }, node };
}

/** Plain clients of single nodes, by port. */
const direct = new Map<number, Redis>();

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
  const live = (
    await Promise.all(sids.map(async (sid) => ((await store.get(sid)) ? sid : undefined)))
  ).filter((s) => s !== undefined);
  const manager = new RelsSessionsManager({ store, applicationName: "Race" });
  const listed = (await manager.activeSessions(user)).map((s) => s.sessionId).sort();
  const counted = (await new SessionStats(store).totals()).totalSessions;
  return { live: live.map((sid) => sessionHandle(sha256(sid))).sort(), listed, counted };
}

describeRevocationSuite(
  "cluster, shared pool",
  (options) => new RelsRedisStore({ ...options, source: clusterPool() }),
  redis,
);

describe("cluster: a follow-up refused for memory", () => {
  it.each(["index", "stats"] as const)(
    "with the %s master full, every live signed-in session is listed and counted",
    async (full) => {
      const store = new RelsRedisStore({ namespace: freshNamespace(), source: clusterPool() });
      const user = `oom-${randomBytes(4).toString("hex")}`;
      const keys = keysOf(store);
      const sids = Array.from({ length: 30 }, newSid);
      // The user's index (every sign-in files there), or the stats shard of the first session
      // (a sixteenth of the sign-ins count there: the others land on other masters).
      const target =
        full === "index" ? keys.userIndex(user) : keys.statsBucket("Race", "web", sha256(sids[0]!));
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
      // A sign-in whose filing the full master refused failed, and said so: OOM, or NOSCRIPT for
      // a script call ioredis sent as EVALSHA while the EVAL that would have loaded it was
      // refused for memory (ioredis retries NOSCRIPT once).
      const failed = outcomes.filter((o) => o !== "ok");
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.filter((o) => !/OOM|NOSCRIPT/.test(o))).toEqual([]);
      expect(failed.some((o) => /OOM/.test(o))).toBe(true);
      const after = await census(store, user, sids);
      if (full === "index") expect(after.live).toEqual([]);
      expect(after.live).toHaveLength(outcomes.length - failed.length);
      expect(after.listed).toEqual(after.live);
      expect(after.counted).toBe(after.live.length);
      // With memory back, sign-ins work, are listed, counted, and "sign out everywhere" ends them.
      const again = sids.slice(0, 5).map((sid) => `again-${sid}`);
      for (const sid of again) await store.set(sid, signedIn(user, sid));
      const later = await census(store, user, [...sids, ...again]);
      expect(later.listed).toEqual(later.live);
      expect(later.counted).toBe(later.live.length);
      expect(await new RelsSessionsManager({ store, applicationName: "Race" }).logoutAllSessions(user)).toBe(
        later.live.length,
      );
    },
    60_000,
  );
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
    for (let i = 0; i < sids.length; i += 100)
      await Promise.all(sids.slice(i, i + 100).map((sid) => reader.set(sid, signedIn(user, sid))));
    const copies = await Promise.all(
      sids.map(async (sid) => ({ ...(await reader.get(sid))!, visits: 1 }) as SessionData),
    );
    for (let i = 0; i < sids.length; i += 100) {
      await Promise.all(
        sids
          .slice(i, i + 100)
          .flatMap((sid, k) => [
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

/** Whether `key`'s slot is served by the master at `endpoint`. */
async function servedBy(key: string, endpoint: RedisEndpoint): Promise<boolean> {
  return (await masterOf(key)).endpoint.port === endpoint.port;
}

/** Every user's live sessions (of `sids`) against what activeSessions lists; the users where they differ. */
async function unlisted(
  store: RelsRedisStore,
  sidsByUser: ReadonlyMap<string, readonly string[]>,
): Promise<string[]> {
  const differ: string[] = [];
  for (const [user, sids] of sidsByUser) {
    const { live, listed } = await census(store, user, [...sids]);
    if (live.some((handle) => !listed.includes(handle))) differ.push(user);
  }
  return differ;
}

/** Poll until `check` holds; how long it took. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return Date.now() - started;
}

// These two kill masters: they run last, in this order (the second needs a master that still has its replica).
describe("cluster: a master killed under traffic (3 masters + 3 replicas)", () => {
  it("no acknowledged revocation comes back, and every live signed-in session is listed once repaired", async () => {
    const store = new RelsRedisStore({ namespace: freshNamespace(), source: clusterPool() });
    const users = Array.from({ length: 40 }, (_, i) => `load-${i}-${randomBytes(3).toString("hex")}`);
    const sidsByUser = new Map(users.map((u) => [u, [] as string[]]));
    const [victim] = await file.handle().masters();
    const outcome = await failoverUnderLoad(store, {
      concurrency: 8,
      maxMs: 60_000,
      postOps: 400,
      sessionOf: (sid, n) => {
        const user = users[n % users.length]!;
        sidsByUser.get(user)!.push(sid);
        return signedIn(user, sid, "web", { n });
      },
      failover: async () => {
        await file.handle().kill(victim!);
        await file.handle().recovered(60_000);
      },
    });
    console.log(`[master killed] ${describeOutcome(outcome)}`);
    expectEveryOperationSettled(outcome);
    expect(outcome.revoked.size).toBeGreaterThan(0);
    expect(await resurrected(store, outcome.revoked)).toEqual([]);
    const repairMs = await within(
      20_000,
      "every live session listed",
      async () => (await unlisted(store, sidsByUser)).length === 0,
    );
    console.log(`[master killed] live = listed ${repairMs} ms after the cluster recovered`);
  }, 180_000);

  it("a master killed before its replica had the latest filings: the sessions it unlisted are listed again once the fleet repairs", async () => {
    const store = new RelsRedisStore({ namespace: freshNamespace(), source: clusterPool() });
    const repaired = new Promise<void>((resolve) => store.once("repaired", () => resolve()));
    const masters = await file.handle().masters();
    // A master that still has its replica (the previous test killed one).
    let victim: RedisEndpoint | undefined;
    let replica: RedisEndpoint | undefined;
    for (const m of masters) {
      replica = await file
        .handle()
        .replicaOf(m)
        .catch(() => undefined);
      if (replica) {
        victim = m;
        break;
      }
    }
    expect(replica, "a master with a replica").toBeDefined();
    const keys = keysOf(store);
    // Users whose index the victim holds; sessions of theirs that live on the other masters.
    const users: string[] = [];
    for (let i = 0; users.length < 10; i++) {
      const user = `kill-${i}-${randomBytes(3).toString("hex")}`;
      if (await servedBy(keys.userIndex(user), victim!)) users.push(user);
    }
    const sessionsElsewhere = async () => {
      for (;;) {
        const sid = newSid();
        if (!(await servedBy(keys.session(sha256(sid)), victim!))) return sid;
      }
    };
    const sidsByUser = new Map<string, string[]>();
    for (const user of users) {
      const first = await sessionsElsewhere();
      await store.set(first, signedIn(user, first));
      sidsByUser.set(user, [first]);
    }
    // The replica has the first filings; then it stops, and its master drops the link to it
    // (what a frozen replica's kernel buffered would otherwise still reach it): the second
    // filings exist on the master alone when it dies.
    const { node: victimNode } = await masterOf(keys.userIndex(users[0]!));
    await within(5_000, "the replica to catch up", async () => Number(await victimNode.wait(1, 100)) === 1);
    const resume = await file.handle().freeze(replica!);
    try {
      await victimNode.call("CLIENT", "KILL", "TYPE", "replica");
      for (const user of users) {
        const second = await sessionsElsewhere();
        await store.set(second, signedIn(user, second));
        sidsByUser.get(user)!.push(second);
      }
      await file.handle().kill(victim!);
    } finally {
      resume();
    }
    await file.handle().recovered(60_000);
    const repairMs = await within(
      20_000,
      "every live session listed",
      async () => (await unlisted(store, sidsByUser)).length === 0,
    );
    await repaired;
    console.log(`[replica behind] live = listed ${repairMs} ms after the cluster recovered`);
    for (const [user, sids] of sidsByUser) expect((await census(store, user, sids)).live).toHaveLength(2);
  }, 180_000);
});
