/**
 * Durable revocation waits for a replica (`WAIT`) on a connection of its own: while a replica
 * does not answer (frozen here with SIGSTOP: syncing, or far behind), revocations wait up to
 * their timeout and then say so, and every other request keeps being served at once, on the
 * shared pool and on an app's own client alike. Before, the `WAIT` held the one connection the
 * other requests shared: they queued behind it past their deadline.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRelsSession, RelsRedisStore, RevocationNotReplicatedError } from "../../src/index.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { waitUntil } from "../helpers/redis/wait.js";
import { newSid, sessionFor } from "../support/store-contract.js";
import { signedInSession } from "../support/signed-in.js";
import { keysOf } from "../support/internals.js";
import { privateHex } from "../../src/ids.js";
import { RelsSessionsManager } from "../../src/users/manager.js";

let master: SpawnedRedis;
let replica: SpawnedRedis;
let replicaPid = 0;

beforeAll(async () => {
  master = await spawnRedisServer();
  replica = await spawnRedisServer({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
  const admin = new Redis(master.url);
  await waitUntil(
    "the replica to be in sync",
    async () => (/connected_slaves:1/.test(await admin.info("replication")) ? true : "not yet"),
    { timeoutMs: 20_000 },
  );
  admin.disconnect();
  const info = new Redis(replica.url);
  replicaPid = Number(/process_id:(\d+)/.exec(await info.info("server"))![1]);
  info.disconnect();
}, 60_000);

afterAll(async () => {
  if (replicaPid) process.kill(replicaPid, "SIGCONT");
  await Promise.all([replica?.dispose(), master?.dispose()]);
});

/** Freeze the replica while `work` runs. */
async function withFrozenReplica<T>(work: () => Promise<T>): Promise<T> {
  process.kill(replicaPid, "SIGSTOP");
  try {
    return await work();
  } finally {
    process.kill(replicaPid, "SIGCONT");
  }
}

/**
 * A revocation that waits 2 s for the frozen replica, and, meanwhile, reads and writes of
 * other sessions: each must be served within the 1 s command deadline (no error).
 */
async function revokeWhileServing(
  store: RelsRedisStore,
): Promise<{ revocation: unknown; served: unknown[] }> {
  const others = Array.from({ length: 5 }, newSid);
  for (const sid of others) await store.set(sid, sessionFor(60_000, { n: 1 }));
  const doomed = newSid();
  await store.set(doomed, sessionFor(60_000, { n: 1 }));
  return withFrozenReplica(async () => {
    const revocation = store.destroy(doomed).then(
      () => "acknowledged",
      (error: unknown) => error,
    );
    // Once the revocation's WAIT is blocked on the master, the other requests go out.
    const admin = new Redis(master.url);
    await waitUntil(
      "the WAIT to block",
      async () => (/blocked_clients:1/.test(await admin.info("clients")) ? true : "not yet"),
      {
        timeoutMs: 5_000,
      },
    );
    admin.disconnect();
    const served = await Promise.all(
      others.map((sid) =>
        store.get(sid).then(
          (session) => (session as unknown as { n: number } | null)?.n,
          (error: unknown) => String(error),
        ),
      ),
    );
    return { revocation: await revocation, served };
  });
}

describe("durable revocation does not hold the connections other requests use", () => {
  it("on the shared pool (one connection)", async () => {
    const instance = createRelsSession(
      {
        applicationName: "Turtle",
        redisOptions: { url: master.url, namespace: `t-${randomUUID()}`, commandTimeout: 1000 },
        connectionPoolOptions: { size: 1 },
        store: { durableRevocation: true, durableRevocationTimeout: 2000 },
      },
      { env: {}, outageWarnings: false },
    );
    try {
      const { revocation, served } = await revokeWhileServing(instance.store);
      expect(served).toEqual([1, 1, 1, 1, 1]);
      expect(revocation).toBeInstanceOf(RevocationNotReplicatedError);
    } finally {
      await instance.close();
    }
  }, 30_000);

  it("on an app's own client (the store waits on a duplicate of it, closed with the store)", async () => {
    const client = new Redis(master.url, { commandTimeout: 1000 });
    const store = new RelsRedisStore({
      client,
      namespace: `t-${randomUUID()}`,
      durableRevocation: true,
      durableRevocationTimeout: 2000,
    });
    try {
      const { revocation, served } = await revokeWhileServing(store);
      expect(served).toEqual([1, 1, 1, 1, 1]);
      expect(revocation).toBeInstanceOf(RevocationNotReplicatedError);
      // With the replica back, a revocation is acknowledged.
      const sid = newSid();
      await store.set(sid, sessionFor(60_000, { n: 1 }));
      await store.destroy(sid);
      expect(await store.get(sid)).toBeNull();
    } finally {
      await store.close();
      client.disconnect();
    }
  }, 30_000);
});

describe("a read past the absolute deadline while no replica confirms", () => {
  it("is a miss, as every read past it is (the master revoked it), never an error thrown at the request", async () => {
    const client = new Redis(master.url);
    const store = new RelsRedisStore({
      client,
      namespace: `t-${randomUUID()}`,
      durableRevocation: true,
      durableRevocationTimeout: 200,
    });
    const manager = new RelsSessionsManager({
      store,
      applicationName: "Turtle",
      lifetimes: { profiles: { long: { absoluteMs: 3_600_000 } }, default: "long" },
    });
    try {
      const sid = newSid();
      await store.set(sid, await signedInSession(manager, sid, "ana"));
      // The header's deadline (bytes 33–48) a moment ago, as a reader's clock ahead of Redis's sees it.
      await client.setrange(
        keysOf(store).session(privateHex(sid)),
        33,
        String(Date.now() - 1).padStart(16, "0"),
      );
      const read = await withFrozenReplica(() => store.get(sid).catch((error: unknown) => error));
      expect(read).toBeNull();
      expect(await client.exists(keysOf(store).session(privateHex(sid)))).toBe(0);
    } finally {
      await store.close();
      client.disconnect();
    }
  }, 30_000);
});
