import { existsSync } from "node:fs";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import {
  provideRedis,
  spawnRedisServer,
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterHandle,
  type RedisEndpoint,
  type RedisSentinelHandle,
} from "./redis.js";

/** Clients that fail fast instead of retrying, so "server is down" shows up as a rejection. */
const failFast: RedisOptions = {
  lazyConnect: true,
  connectTimeout: 1_000,
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
  enableOfflineQueue: false,
};

const clients: Array<Redis | Cluster> = [];
function track<T extends Redis | Cluster>(client: T): T {
  client.on("error", () => {}); // expected while servers go down in these tests
  clients.push(client);
  return client;
}
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

async function ping(endpoint: RedisEndpoint): Promise<string> {
  const client = track(new Redis({ ...failFast, host: endpoint.host, port: endpoint.port }));
  await client.connect();
  return client.ping();
}

describe("provideRedis", () => {
  it("gives a Redis that answers PING", async () => {
    const provided = await provideRedis();
    try {
      expect(["env", "spawned", "container"]).toContain(provided.source);
      const client = track(new Redis(provided.url, failFast));
      await client.connect();
      expect(await client.ping()).toBe("PONG");
    } finally {
      await provided.stop();
    }
  });

  it("global setup injects a working redisUrl", async () => {
    const client = track(new Redis(inject("redisUrl"), failFast));
    await client.connect();
    expect(await client.ping()).toBe("PONG");
  });
});

describe("spawnRedisServer", () => {
  it("binds 127.0.0.1, stop() takes it down, restart() brings it back on the same port", async () => {
    const server = await spawnRedisServer();
    try {
      expect(server.host).toBe("127.0.0.1");
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(server.port).not.toBe(6379);
      expect(await ping(server)).toBe("PONG");

      await server.stop();
      await expect(ping(server)).rejects.toThrow();

      await server.restart();
      expect(await ping(server)).toBe("PONG");

      await server.kill();
      await expect(ping(server)).rejects.toThrow();
      await server.restart();
      expect(await ping(server)).toBe("PONG");
    } finally {
      await server.dispose();
    }
    expect(existsSync(server.dir)).toBe(false);
  });

  it("passes extra args to redis-server", async () => {
    const server = await spawnRedisServer({ args: ["--maxmemory", "12mb"] });
    try {
      const client = track(new Redis({ ...failFast, host: server.host, port: server.port }));
      await client.connect();
      expect(await client.config("GET", "maxmemory")).toEqual(["maxmemory", String(12 * 1024 * 1024)]);
    } finally {
      await server.dispose();
    }
  });
});

/** host:port of the master serving `key`, according to CLUSTER SLOTS on `endpoint`. */
async function slotOwner(endpoint: RedisEndpoint, key: string): Promise<string> {
  const client = track(new Redis({ ...failFast, host: endpoint.host, port: endpoint.port }));
  await client.connect();
  const slot = Number(await client.call("CLUSTER", "KEYSLOT", key));
  const ranges = (await client.call("CLUSTER", "SLOTS")) as Array<
    [number, number, [string, number, ...unknown[]]]
  >;
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`slot ${slot} is not served`);
  return `${range[2][0]}:${range[2][1]}`;
}

describe("startRedisCluster", () => {
  let cluster: RedisClusterHandle | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await cluster?.dispose();
  });

  it("is a healthy 3 masters + 3 replicas cluster that keeps a key through failover", async () => {
    if (!cluster) throw new Error("cluster did not start");
    expect(cluster.nodes).toHaveLength(6);
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    for (const node of cluster.nodes) {
      const client = track(new Redis({ ...failFast, host: node.host, port: node.port }));
      await client.connect();
      expect(String(await client.call("CLUSTER", "INFO"))).toContain("cluster_state:ok");
    }

    const first = cluster.nodes[0];
    if (!first) throw new Error("no nodes");
    const client = track(new Cluster([first], { redisOptions: { connectTimeout: 1_000 } }));
    const key = "rels:helper-test:{failover}";
    await client.set(key, "kept");
    expect(await client.get(key)).toBe("kept");

    const ownerBefore = await slotOwner(first, key);
    await cluster.failover(key);
    const ownerAfter = await slotOwner(first, key);
    expect(ownerAfter).not.toBe(ownerBefore);
    const mastersAfter = (await cluster.masters()).map((m) => `${m.host}:${m.port}`);
    expect(mastersAfter).toContain(ownerAfter);
    expect(mastersAfter).not.toContain(ownerBefore);

    // The client still has the old slot map: it follows MOVED to the new master.
    expect(await client.get(key)).toBe("kept");
    await client.set(key, "written after failover");
    expect(await client.get(key)).toBe("written after failover");
  });
});

describe("startRedisSentinel", () => {
  let sentinel: RedisSentinelHandle | undefined;
  beforeAll(async () => {
    sentinel = await startRedisSentinel();
  });
  afterAll(async () => {
    await sentinel?.dispose();
  });

  it("serves ioredis through sentinels and keeps the value through failover", async () => {
    if (!sentinel) throw new Error("sentinel did not start");
    expect(sentinel.sentinels).toHaveLength(3);
    const options = { sentinels: sentinel.sentinels, name: sentinel.name, connectTimeout: 1_000 };
    const client = track(new Redis(options));
    await client.set("rels:helper-test:sentinel", "kept");
    // Make sure the replica has it before we promote that replica.
    expect(await client.call("WAIT", 1, 5_000)).toBe(1);

    const before = await sentinel.master();
    await sentinel.failover();
    const after = await sentinel.master();
    expect(after).not.toEqual(before);
    const direct = track(new Redis({ ...failFast, host: after.host, port: after.port }));
    await direct.connect();
    expect(((await direct.call("ROLE")) as unknown[])[0]).toBe("master");
    expect(await direct.get("rels:helper-test:sentinel")).toBe("kept");

    // A new client asks the sentinels and lands on the new master.
    const fresh = track(new Redis(options));
    expect(await fresh.get("rels:helper-test:sentinel")).toBe("kept");
    expect(((await fresh.call("ROLE")) as unknown[])[0]).toBe("master");

    // The first client was on the old master; failover() disconnected it, so it reconnects through
    // the sentinels and its write lands on the new master.
    await client.set("rels:helper-test:sentinel", "written after failover");
    expect(await fresh.get("rels:helper-test:sentinel")).toBe("written after failover");
    expect(await client.call("WAIT", 1, 5_000)).toBe(1);

    // The old master is now the replica, so we can fail back at once.
    await sentinel.failover();
    expect(await sentinel.master()).toEqual(before);
    expect(await client.get("rels:helper-test:sentinel")).toBe("written after failover");
  });
});
