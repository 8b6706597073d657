/**
 * Redis Cluster: 3 masters with 1 replica each, spawned once for the whole file.
 *
 * The store contract runs on the shared pool in cluster mode and through
 * `RelsSession.configure({ redisOptions: { cluster } })`; then what is specific to Cluster:
 * a user's sessions spread over every master, scans of every shard, repair of what a crash
 * between two slots leaves behind, no cross-slot command, and a failover under load.
 */
import { dropStats, keysOf, revocationsOf, statsKeysOf } from "../support/internals.js";
import { randomBytes } from "node:crypto";
import type { Request } from "express";
import type { SessionData } from "express-session";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRelsSession, RelsRedisStore, RelsSession, type RevocationEvent } from "../../src/index.js";
import { TUNABLES } from "../../src/tunables.js";
import { waitUntil } from "../helpers/redis/wait.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { SessionStats } from "../../src/stats/stats.js";
import { sessionHandle } from "../../src/ids.js";
import { RedisPool } from "../../src/redis/pool.js";
import type {
  ChannelListeners,
  PrepareClient,
  RedisClient,
  RedisSource,
  SourceListeners,
} from "../../src/redis/source.js";
import { streamSessions } from "../../src/users/stream.js";
import { startRedisCluster, type RedisClusterHandle, type RedisEndpoint } from "../helpers/redis.js";
import {
  describeOutcome,
  expectEveryOperationSettled,
  expectStoreServes,
  failoverUnderLoad,
  firstSuccess,
  lostSessions,
  resurrected,
} from "../support/failover-load.js";
import { describeManagerContract } from "../support/manager-contract.js";
import { describeRevocationEvents } from "../support/revocation-events-suite.js";
import {
  describeStoreContract,
  newSid,
  sessionFor,
  sha256,
  viaConfiguredInstance,
  type MakeStore,
} from "../support/store-contract.js";
import { UA } from "../support/user-agents.js";
import request from "supertest";
import { lifetimeApp } from "../support/lifetime-app.js";
import { expectSessionCookie, sidOf, whoAmI } from "../support/express-app.js";

const freshNamespace = () => `c-${randomBytes(6).toString("hex")}`;

let cluster: RedisClusterHandle | undefined;
let nodes: RedisEndpoint[] = [];
let inspector: Cluster | undefined;
/** Pools and clients opened by this file, closed at the end. */
const opened: Array<() => Promise<unknown>> = [];

function handle(): RedisClusterHandle {
  if (!cluster) throw new Error("the cluster did not start (see beforeAll)");
  return cluster;
}

function redis(): Cluster {
  if (!inspector) throw new Error("the cluster did not start (see beforeAll)");
  return inspector;
}

function clusterPool(): RedisPool {
  const pool = new RedisPool({
    target: { kind: "cluster", nodes },
    size: 1,
    acquireTimeoutMs: 5000,
    commandTimeoutMs: 2000,
  });
  opened.push(() => pool.close());
  return pool;
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  nodes = cluster.nodes;
  inspector = new Cluster(nodes);
  await inspector.ping();
}, 120_000);

afterAll(async () => {
  await RelsSession.close();
  for (const close of opened.splice(0)) await close().catch(() => undefined);
  await inspector?.quit().catch(() => inspector?.disconnect());
  await cluster?.dispose();
});

// ---- the store contract, twice ---------------------------------------------------------------

const pooled: MakeStore = async (options) => ({
  store: new RelsRedisStore({ ...options, source: clusterPool() }),
  redis: redis(),
});

describeStoreContract("cluster, shared pool", pooled);

describeStoreContract(
  "cluster, createRelsSession({ redisOptions: { cluster } })",
  viaConfiguredInstance({
    applicationName: "ClusterApp",
    redisOptions: () => ({ cluster: { nodes, scaleReads: "master" }, commandTimeout: 2000 }),
    redis,
    opened,
  }),
);

// ---- the SessionsManager contract, twice ----------------------------------------------------

describeManagerContract("cluster, store on the shared pool", async () => {
  const pool = new RedisPool({
    target: { kind: "cluster", nodes },
    size: 1,
    acquireTimeoutMs: 5000,
    commandTimeoutMs: 2000,
  });
  const store = new RelsRedisStore({ source: pool, namespace: freshNamespace() });
  return {
    store,
    manager: new RelsSessionsManager({ store, applicationName: "Turtle" }),
    applicationName: "Turtle",
    close: () => pool.close(),
  };
});

describeManagerContract("cluster, createRelsSession({ redisOptions: { cluster } })", async () => {
  RelsSession.configure(
    {
      applicationName: "Turtle",
      redisOptions: { cluster: { nodes }, namespace: freshNamespace(), commandTimeout: 2000 },
    },
    { env: {} },
  );
  return {
    store: RelsSession.store(),
    manager: RelsSession.manager(),
    applicationName: "Turtle",
    close: () => RelsSession.close(),
  };
});

// Classic PUBLISH from the revoking master's script reaches a subscriber on any master.
describeRevocationEvents("cluster", () => ({
  instance: (namespace, options = {}) =>
    createRelsSession(
      {
        applicationName: "Turtle",
        redisOptions: { cluster: { nodes }, namespace, commandTimeout: 2000 },
        sessions: options,
      },
      { env: {} },
    ),
  cliFlags: () => ["--cluster", nodes.map((n) => `${n.host}:${n.port}`).join(",")],
}));

// ---- helpers for the cluster-specific tests ----------------------------------------------------

interface SignedIn {
  sid: string;
  hex: string;
  /** `SessionMeta.sessionId`: what the revoke calls take. */
  handle: string;
  session: SessionData;
}

/** The request of a signed-in browser, as the manager sees it. */
function browserRequest(sid: string, session: SessionData): Request {
  return {
    session,
    sessionID: sid,
    ip: "203.0.113.9",
    headers: { "user-agent": UA.linuxChrome },
  } as unknown as Request;
}

/** What a login route does: record the user on the request's session, then express-session saves it. */
async function signIn(
  manager: RelsSessionsManager,
  store: RelsRedisStore,
  user: string,
  sid = newSid(),
): Promise<SignedIn> {
  const session = sessionFor(600_000);
  await manager.recordAuthenticatedRequest(user, browserRequest(sid, session));
  await store.set(sid, session);
  const hex = sha256(sid);
  return { sid, hex, handle: sessionHandle(hex), session };
}

/**
 * `signedIn` signs in again as `newOwner`, and the follow-up that drops it from
 * `oldOwner`'s index (another slot) is lost in a crash: its entry is put back as it would be.
 */
async function changeOwnerLosingIndexFollowUp(
  manager: RelsSessionsManager,
  store: RelsRedisStore,
  signedIn: SignedIn,
  oldOwner: string,
  newOwner: string,
): Promise<void> {
  await manager.recordAuthenticatedRequest(newOwner, browserRequest(signedIn.sid, signedIn.session));
  await store.set(signedIn.sid, signedIn.session);
  await redis().zadd(keysOf(store).userIndex(oldOwner), Date.now() + 600_000, signedIn.hex);
}

/** "host:port" of the master serving `key`, from CLUSTER KEYSLOT and CLUSTER SLOTS (asked now, never cached). */
async function masterOf(key: string): Promise<string> {
  const slot = Number(await redis().call("CLUSTER", "KEYSLOT", key));
  const ranges = (await redis().call("CLUSTER", "SLOTS")) as Array<
    [number, number, [string, number, ...unknown[]], ...unknown[]]
  >;
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no master serves slot ${slot}`);
  return `${range[2][0]}:${range[2][1]}`;
}

/** Sign in sessions for `user` until each of the 3 masters holds at least `perMaster` of them. */
async function signInOnEveryMaster(
  manager: RelsSessionsManager,
  store: RelsRedisStore,
  user: string,
  perMaster: number,
) {
  const masters = (await handle().masters()).map((m) => `${m.host}:${m.port}`);
  expect(masters).toHaveLength(3);
  const byMaster = new Map<string, SignedIn[]>(masters.map((m) => [m, []]));
  const all: SignedIn[] = [];
  for (let i = 0; i < 200 && [...byMaster.values()].some((list) => list.length < perMaster); i++) {
    const signedIn = await signIn(manager, store, user);
    all.push(signedIn);
    byMaster.get(await masterOf(keysOf(store).session(signedIn.hex)))?.push(signedIn);
  }
  for (const [master, list] of byMaster)
    expect(list.length, `sessions on ${master}`).toBeGreaterThanOrEqual(perMaster);
  return { all, byMaster };
}

function setup(namespace = freshNamespace()) {
  const store = new RelsRedisStore({ source: sharedPool(), namespace, touchAfter: 0 });
  const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
  return { store, manager, stats: new SessionStats(store) };
}

let clusterSpecificPool: RedisPool | undefined;
function sharedPool(): RedisPool {
  clusterSpecificPool ??= clusterPool();
  return clusterSpecificPool;
}

// ---- cluster-specific ---------------------------------------------------------------------------

describe("cluster: a user's sessions on every master", () => {
  it("lists them all, and logoutSessions / logoutOtherSessions / logoutAllSessions revoke across masters", async () => {
    const { store, manager } = setup();
    const user = "user:{spread} *"; // braces and globs in the id must not change the index's tag
    const { all, byMaster } = await signInOnEveryMaster(manager, store, user, 2);

    // The index is one key in one slot; the sessions are on all three masters.
    const masters = new Set(await Promise.all(all.map((s) => masterOf(keysOf(store).session(s.hex)))));
    expect(masters.size).toBe(3);

    const listed = await manager.activeSessions(user);
    expect(listed.map((s) => s.sessionId).sort()).toEqual(all.map((s) => s.handle).sort());

    // One session from each master, in one call.
    const picked = [...byMaster.values()].map((list) => list[0]!);
    expect(
      await manager.logoutSessions(
        user,
        picked.map((s) => s.handle),
      ),
    ).toBe(3);
    for (const s of picked) expect(await store.get(s.sid)).toBeNull();
    const afterSome = await manager.activeSessions(user);
    expect(afterSome).toHaveLength(all.length - 3);

    // Keep the current one, wherever it lives.
    const current = [...byMaster.values()].map((list) => list[1]!)[1]!;
    const req = { session: current.session, sessionID: current.sid, ip: "203.0.113.9", headers: {} };
    expect(await manager.logoutOtherSessions(user, req as unknown as Request)).toBe(all.length - 4);
    expect((await manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([current.handle]);
    expect(await store.get(current.sid)).not.toBeNull();

    expect(await manager.logoutAllSessions(user)).toBe(1);
    expect(await manager.activeSessions(user)).toEqual([]);
    for (const s of all) expect(await store.get(s.sid)).toBeNull();
    expect(await redis().exists(keysOf(store).userIndex(user))).toBe(0);
  });

  it("a revoked session stays revoked: a late save from a request in flight does not bring it back", async () => {
    const { store, manager } = setup();
    const { all } = await signInOnEveryMaster(manager, store, "late-saver", 1);
    const loaded = await Promise.all(all.map(async (s) => ({ s, data: (await store.get(s.sid))! })));
    await manager.logoutAllSessions("late-saver");
    await Promise.all(loaded.map(({ s, data }) => store.set(s.sid, data)));
    for (const s of all) expect(await store.get(s.sid)).toBeNull();
    expect(await manager.activeSessions("late-saver")).toEqual([]);
  });
});

describe("cluster: scans see every shard", () => {
  it("streamSessions, listSessions, ids and length see sessions of all three masters", async () => {
    const { store, manager } = setup();
    const users = ["ann", "bob", "cyd"];
    const signedIn: SignedIn[] = [];
    for (const user of users) signedIn.push(...(await signInOnEveryMaster(manager, store, user, 1)).all);
    await store.set(newSid(), sessionFor()); // anonymous: a session, but no metadata to stream

    const streamed = [];
    for await (const meta of streamSessions(store, 2)) streamed.push(meta);
    expect(streamed.map((m) => m.sessionId).sort()).toEqual(signedIn.map((s) => s.handle).sort());
    expect(new Set(streamed.map((m) => m.userId))).toEqual(new Set(users));

    expect(await store.length()).toBe(signedIn.length + 1);
    expect((await store.ids()).sort()).toEqual(expect.arrayContaining(signedIn.map((s) => `2::${s.hex}`)));
    let listed = 0;
    for await (const _ of store.listSessions({ stream: true })) listed += 1;
    expect(listed).toBe(signedIn.length + 1);
  });

  it("SessionStats.reconcile rebuilds the counters from sessions on every master", async () => {
    const { store, manager, stats } = setup();
    const { all } = await signInOnEveryMaster(manager, store, "stats-user", 2);
    expect((await stats.totals()).totalSessions).toBe(all.length);

    // Lose every counter, then rebuild from the sessions themselves.
    expect((await statsKeysOf(store)).length).toBeGreaterThan(keysOf(store).statsShards().length * 2);
    await dropStats(store);
    expect((await stats.totals()).totalSessions).toBe(0);

    const progress: number[] = [];
    const totals = await stats.reconcile({ onProgress: (n) => progress.push(n) });
    expect(totals.totalSessions).toBe(all.length);
    expect(totals.byApplication).toEqual({ Turtle: all.length });
    expect(totals.byPlatform.web).toBe(all.length);
    expect(progress.at(-1)).toBe(all.length);
  });
});

describe("cluster: the next reader repairs what a crash between two slots leaves behind", () => {
  it("an index entry without its session is not listed, and is pruned", async () => {
    const { store, manager } = setup();
    const user = "crash-victim";
    const [gone, kept] = [await signIn(manager, store, user), await signIn(manager, store, user)];
    const index = keysOf(store).userIndex(user);

    // destroy's first step (the session's slot) ran; its follow-up on the index's slot did not.
    await redis().del(keysOf(store).session(gone.hex));
    expect(await redis().zscore(index, gone.hex)).not.toBeNull();

    expect((await manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([kept.handle]);
    expect(await redis().zscore(index, gone.hex)).toBeNull();
    expect(await redis().zscore(index, kept.hex)).not.toBeNull();
    // Revoking everything is not tripped up by it either.
    await redis().zadd(index, Date.now() + 600_000, gone.hex);
    expect(await manager.logoutAllSessions(user)).toBe(1);
    expect(await manager.activeSessions(user)).toEqual([]);
  });

  it("an index entry pointing at a session that now belongs to another user is pruned", async () => {
    const { store, manager } = setup();
    const shared = await signIn(manager, store, "first-owner");
    const other = await signIn(manager, store, "first-owner");
    await changeOwnerLosingIndexFollowUp(manager, store, shared, "first-owner", "second-owner");

    expect((await manager.activeSessions("first-owner")).map((s) => s.sessionId)).toEqual([other.handle]);
    expect(await redis().zscore(keysOf(store).userIndex("first-owner"), shared.hex)).toBeNull();
    expect((await manager.activeSessions("second-owner")).map((s) => s.sessionId)).toEqual([shared.handle]);
    // The first owner revoking everything must not end the second owner's session.
    expect(await manager.logoutAllSessions("first-owner")).toBe(1);
    expect(await store.get(shared.sid)).not.toBeNull();
  });

  // The same leftover, but the first thing to read the first owner's index is a revoke.
  it("a stale index entry of a session now owned by another user does not let the first owner revoke it", async () => {
    const { store, manager } = setup();
    const shared = await signIn(manager, store, "old-owner");
    await changeOwnerLosingIndexFollowUp(manager, store, shared, "old-owner", "new-owner");

    expect(await manager.logoutSession("old-owner", shared.handle)).toBe(false);
    expect(await manager.logoutAllSessions("old-owner")).toBe(0);
    expect(await store.get(shared.sid)).not.toBeNull();
    expect((await manager.activeSessions("new-owner")).map((s) => s.sessionId)).toEqual([shared.handle]);
  });

  it("a count without its session is outlived by reconcile", async () => {
    const { store, manager, stats } = setup();
    const [gone] = [await signIn(manager, store, "counted"), await signIn(manager, store, "counted")];
    await redis().del(keysOf(store).session(gone.hex));
    const totals = await stats.reconcile();
    expect(totals.totalSessions).toBe(1);
  });

  // A crash after the session's script and before its index follow-up leaves a live session
  // that its owner's index does not know: not listed, and not revoked by logoutAllSessions.
  it("a session whose index follow-up was lost is filed again by its next refiling touch, and revoked by logoutAllSessions", async () => {
    const { store, manager } = setup();
    const user = "lost-follow-up";
    const orphan = await signIn(manager, store, user);
    await redis().zrem(keysOf(store).userIndex(user), orphan.hex);

    // A later request whose touch takes the expiry past the filed one (a tenth of the
    // lifetime ahead) refiles the session in its index.
    await store.touch(orphan.sid, sessionFor(600_000 * 1.2));
    expect((await manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([orphan.handle]);
    expect(await manager.logoutAllSessions(user)).toBe(1);
    expect(await store.get(orphan.sid)).toBeNull();
  });
});

// ---- failover under load --------------------------------------------------------------------

describe("cluster: failover under load", () => {
  it("CLUSTER FAILOVER while requests run: nothing hangs, errors are typed, acknowledged sessions survive, works afterwards", async () => {
    const store = new RelsRedisStore({ source: clusterPool(), namespace: freshNamespace(), touchAfter: 0 });
    const before = Array.from({ length: 150 }, () => newSid());
    await Promise.all(before.map((sid, n) => store.set(sid, sessionFor(600_000, { n }))));
    const target = keysOf(store).session(sha256(before[0]!));
    const oldMaster = await masterOf(target);

    const outcome = await failoverUnderLoad(store, {
      failover: () => handle().failover(target),
      concurrency: 20,
      maxMs: 15_000,
      postOps: 500,
    });
    console.log(`[cluster failover] ${describeOutcome(outcome)}`);

    expectEveryOperationSettled(outcome);
    expect(await masterOf(target)).not.toBe(oldMaster);

    // Afterwards, the same store (no restart) serves reads and writes.
    await firstSuccess(() => store.get(before[0]!), 5000);
    const found = await store.findSessions(before);
    before.forEach((sid, n) =>
      expect((found.get(sid) as unknown as { n: number } | null)?.n, `pre-load session ${n}`).toBe(n),
    );
    expect(await lostSessions(store, outcome.ackedBefore), "acknowledged before the failover, lost").toEqual(
      [],
    );
    // CLUSTER FAILOVER is coordinated (the master stops writes until its replica caught up), so
    // nothing acknowledged during or after the switch is lost either.
    expect(await lostSessions(store, outcome.ackedDuring), "acknowledged during the failover, lost").toEqual(
      [],
    );
    expect(await lostSessions(store, outcome.ackedAfter), "acknowledged after the failover, lost").toEqual(
      [],
    );
    const back = await resurrected(store, outcome.revoked);
    console.log(
      `[cluster failover] acknowledged revocations lost: ${back.length} of ${outcome.revoked.size}`,
    );
    expect(back, "acknowledged revocations that came back").toEqual([]);
    await expectStoreServes(store, 30);
  }, 60_000);
});

// ---- no command spans slots ---------------------------------------------------------------------

/** CROSSSLOT replies each node has sent since it started (INFO errorstats). */
async function crossSlotErrors(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const node of nodes) {
    const client = new Redis({
      host: node.host,
      port: node.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    try {
      await client.connect();
      const info = await client.info("errorstats");
      counts[`${node.host}:${node.port}`] = Number(/errorstat_CROSSSLOT:count=(\d+)/.exec(info)?.[1] ?? 0);
    } finally {
      client.disconnect();
    }
  }
  return counts;
}

describe("cluster: no command spans slots", () => {
  it("bulk revoke of 50 sessions, clear() and reconcile succeed, and no node ever answered CROSSSLOT in this file", async () => {
    const { store, manager, stats } = setup();
    const user = "fifty";
    const sessions: SignedIn[] = [];
    for (let i = 0; i < 50; i++) sessions.push(await signIn(manager, store, user));
    const masters = new Set(await Promise.all(sessions.map((s) => masterOf(keysOf(store).session(s.hex)))));
    expect(masters.size).toBe(3);

    expect(
      await store
        .findSessions(sessions.map((s) => s.sid))
        .then((m) => [...m.values()].filter(Boolean).length),
    ).toBe(50);
    expect(await manager.logoutAllSessions(user)).toBe(50);
    expect(await manager.activeSessions(user)).toEqual([]);

    for (let i = 0; i < 50; i++) await signIn(manager, store, `many-${i % 5}`);
    expect((await stats.reconcile()).totalSessions).toBe(50);
    expect(await store.deleteSessions(sessions.slice(0, 10).map((s) => s.sid))).toBe(0);
    await store.clear();
    expect(await store.length()).toBe(0);
    expect((await stats.reconcile()).totalSessions).toBe(0);

    // Everything this file did, the contract suites included.
    const counts = await crossSlotErrors();
    expect(Object.keys(counts)).toHaveLength(6);
    expect(counts).toEqual(Object.fromEntries(Object.keys(counts).map((node) => [node, 0])));

    // The check itself works: a deliberate cross-slot MGET is counted.
    const [first] = await handle().masters();
    const direct = new Redis({ host: first!.host, port: first!.port, maxRetriesPerRequest: 0 });
    opened.push(async () => direct.disconnect());
    await expect(direct.mget("{a}x", "{b}y")).rejects.toThrow(/CROSSSLOT/);
    const after = await crossSlotErrors();
    expect(after[`${first!.host}:${first!.port}`]).toBe(1);
  });
});

// ---- races between slots ---------------------------------------------------------------------

/**
 * A real cluster pool whose next call, once answered, waits for `between` before its caller
 * goes on: what a slow client looks like to a racing one. It forces the interleaving that
 * 0.1 lost to, every run: a write's script lands, a revocation runs whole, and only then do
 * the write's follow-ups reach the index and stats slots.
 */
class InterleavingSource implements RedisSource {
  readonly #inner: RedisPool;
  #between: (() => Promise<unknown>) | undefined;

  constructor(inner: RedisPool) {
    this.#inner = inner;
  }

  holdNextReply(between: () => Promise<unknown>): void {
    this.#between = between;
  }

  get isCluster(): boolean {
    return true;
  }

  get database(): number {
    return 0;
  }

  async run<T>(operation: (client: RedisClient) => Promise<T>, key?: string): Promise<T> {
    const result = await this.#inner.run(operation, key);
    const between = this.#between;
    this.#between = undefined;
    if (between) await between();
    return result;
  }

  runBlocking<T>(operation: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.#inner.runBlocking(operation);
  }

  prepareBlocking(): void {
    this.#inner.prepareBlocking();
  }

  masters(): Promise<Redis[]> {
    return this.#inner.masters();
  }

  prepare(prepare: PrepareClient): void {
    this.#inner.prepare(prepare);
  }

  subscribe(listeners: SourceListeners): () => void {
    return this.#inner.subscribe(listeners);
  }

  listen(channel: string, listeners: ChannelListeners): () => Promise<void> {
    return this.#inner.listen(channel, listeners);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

describe("cluster: a follow-up that lands after a racing revoke re-adds nothing", () => {
  const now = new Date();
  const metaOf = (user: string, sid: string, clientPlatform: string) => ({
    sessionId: sessionHandle(sha256(sid)),
    userId: user,
    applicationName: "Race",
    sessionKeyType: "cookie",
    ...{ ip: null, userAgent: null, appVersion: null, installationId: null, device: null, courseId: null },
    clientPlatform,
    signInAt: now,
    lastSeenAt: now,
    createdAt: now,
    expiresAt: new Date(now.getTime() + 3_600_000),
  });

  async function race(step: "save" | "touch") {
    const namespace = freshNamespace();
    const source = new InterleavingSource(clusterPool());
    const writer = new RelsRedisStore({ namespace, source, touchAfter: 0 });
    const revoker = new RelsRedisStore({ namespace, source: clusterPool() });
    const user = `race-${randomBytes(4).toString("hex")}`;
    const sids = Array.from({ length: 20 }, newSid);
    for (const sid of sids) await writer.set(sid, sessionFor(600_000, { _rels: metaOf(user, sid, "web") }));
    for (const sid of sids) {
      const session = (await writer.get(sid))!;
      // The save moves the session to another stats bucket; the touch takes its expiry past
      // its filing. Either way the index and stats slots get a follow-up.
      source.holdNextReply(() => revoker.destroy(sid));
      if (step === "save") {
        (session as unknown as Record<string, unknown>)._rels = metaOf(user, sid, "ios_app");
        await writer.set(sid, session);
      } else {
        await writer.touch(sid, sessionFor(3_600_000) as SessionData);
      }
    }
    expect(await writer.length()).toBe(0);
    expect(await redis().zcard(keysOf(writer).userIndex(user))).toBe(0);
    expect((await new SessionStats(writer).totals()).totalSessions).toBe(0);
    expect(
      await new RelsSessionsManager({ store: writer, applicationName: "Race" }).activeSessions(user),
    ).toEqual([]);
  }

  it(
    "a save whose follow-ups land after a revocation of its session leaves no entry and no count",
    () => race("save"),
    60_000,
  );
  it(
    "a touch whose refiling lands after a revocation of its session leaves no entry and no count",
    () => race("touch"),
    60_000,
  );
});

describe("cluster: an absolute lifetime (filed first, in other slots) never files past the deadline", () => {
  it("a rolling session in use is refused past its deadline; its index entry and count never outlive it", async () => {
    const absoluteMs = 3_000;
    const instance = createRelsSession(
      {
        applicationName: "ClusterApp",
        redisOptions: { cluster: { nodes }, commandTimeout: 2000, namespace: freshNamespace() },
        sessions: { lifetimes: { profiles: { short: { absoluteMs } }, default: "short" } },
      },
      { env: {} },
    );
    opened.push(() => instance.close());
    const app = lifetimeApp(instance.store, instance.manager);
    const keys = keysOf(instance.store);
    const user = `life-${randomBytes(4).toString("hex")}`;
    const cookie = expectSessionCookie(await request(app).post("/login").send({ userId: user }).expect(200));
    const hex = sha256(sidOf(cookie));
    const [listed] = await instance.manager.activeSessions(user);
    const deadline = listed!.absoluteExpiresAt!.getTime();
    expect(deadline - listed!.signInAt.getTime()).toBe(absoluteMs);
    expect((await instance.stats.totals()).totalSessions).toBe(1);

    // Requests keep coming (rolling: each one touches); the index entry, filed before each
    // refile in its own slot, and Redis's TTL stay at or before the deadline.
    let requests = 0;
    while (Date.now() < deadline - 500) {
      expect(await whoAmI(app, cookie)).toBe(user);
      requests += 1;
      expect(Number(await redis().zscore(keys.userIndex(user), hex))).toBeLessThanOrEqual(deadline);
      expect(await redis().pttl(keys.session(hex))).toBeLessThanOrEqual(
        deadline - Date.now() + TUNABLES.record.lifetimeGraceMs + 50,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(requests).toBeGreaterThan(3);
    while (Date.now() <= deadline + 20) await new Promise((resolve) => setTimeout(resolve, 50));

    expect((await instance.stats.totals()).totalSessions).toBe(0);
    expect(await instance.manager.activeSessions(user)).toEqual([]);
    expect(await whoAmI(app, cookie)).toBeNull();
    expect(await redis().exists(keys.session(hex))).toBe(0);
  }, 60_000);

  it("a session nobody reads is revoked at its deadline by the sweep (its slot's script), with one `lifetime` event; its entry and count gone", async () => {
    const namespace = freshNamespace();
    const make = () =>
      createRelsSession(
        {
          applicationName: "ClusterApp",
          redisOptions: { cluster: { nodes }, commandTimeout: 2000, namespace },
          sessions: { lifetimes: { profiles: { short: { absoluteMs: 1_500 } }, default: "short" } },
        },
        { env: {} },
      );
    const instance = make();
    const other = make();
    opened.push(
      () => instance.close(),
      () => other.close(),
    );
    const heard: RevocationEvent[] = [];
    other.onRevoked((event) => void heard.push(event));
    await revocationsOf(other.store).subscribed();
    const app = lifetimeApp(instance.store, instance.manager);
    const keys = keysOf(instance.store);
    const user = `sweep-${randomBytes(4).toString("hex")}`;
    const res = await request(app).post("/login").send({ userId: user }).expect(200);
    const hex = sha256(sidOf(expectSessionCookie(res)));
    const deadline = Date.parse(res.body.absoluteExpiresAt as string);
    await waitUntil("the lifetime event", async () => (heard.length > 0 ? true : "none yet"), {
      timeoutMs: deadline - Date.now() + TUNABLES.record.sweepIntervalMs + 1_000,
    });
    expect(heard).toEqual([
      { reason: "lifetime", userId: user, sessionId: sessionHandle(hex), applicationName: "ClusterApp" },
    ]);
    expect(await redis().exists(keys.session(hex))).toBe(0);
    expect(await redis().zscore(keys.userIndex(user), hex)).toBeNull();
    expect((await instance.stats.totals()).totalSessions).toBe(0);
    // Swept again (undefined: its own timer's sweep holds the lock): nothing more.
    expect([0, undefined]).toContain(await revocationsOf(other.store).lifetimeSweep.sweep());
    expect(heard).toHaveLength(1);
  }, 60_000);
});
