/**
 * `npx tsx bench/reconcile-pause.ts [--counts=N] [--sessions=N]`: how long `reconcileStats()`
 * makes other clients of the same Redis wait.
 *
 * A private redis-server (127.0.0.1, free port, temp dir) gets N counts in the stats buckets
 * (what N signed-in sessions leave there, spread over the 16 shards as the store spreads them)
 * and a number of real signed-in sessions; then, while a second client sends a PING every
 * millisecond and times each answer, `SessionStats#reconcile` frees the buckets and rebuilds
 * them from the sessions. Prints the longest wait and the 99th percentile. Figures only.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { z } from "zod";
import { RelsRedisStore } from "../src/index.js";
import { SessionStats } from "../src/stats/stats.js";
import { spawnRedisServer } from "../test/helpers/redis.js";
import { keysOf } from "../test/support/internals.js";
import { sessionFor } from "../test/support/store-contract.js";

const args = z
  .object({
    counts: z.coerce.number().int().min(0).default(1_000_000),
    sessions: z.coerce.number().int().min(0).default(10_000),
  })
  .parse(Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("="))));

const server = await spawnRedisServer();
const client = new Redis(server.url);
const prober = new Redis(server.url);
try {
  const store = new RelsRedisStore({ client, namespace: `pause-${randomBytes(4).toString("hex")}` });
  const keys = keysOf(store);
  const expires = Date.now() + 3_600_000;
  for (let done = 0; done < args.counts; done += 10_000) {
    const pipeline = client.pipeline();
    for (let i = done; i < Math.min(done + 10_000, args.counts); i++) {
      const hex = randomBytes(32).toString("hex");
      const bucket = keys.statsBucket("Turtle", "web", hex);
      pipeline.zadd(bucket, expires, hex);
      if (i < 10_000) pipeline.sadd(keys.statsShardOf(bucket).registry, bucket);
    }
    await pipeline.exec();
  }
  for (let done = 0; done < args.sessions; done += 1_000) {
    await Promise.all(
      Array.from({ length: Math.min(1_000, args.sessions - done) }, (_, i) => {
        const sid = `s-${done + i}-${randomBytes(8).toString("hex")}`;
        return store.set(
          sid,
          sessionFor(3_600_000, {
            _rels: { userId: `u${i % 100}`, applicationName: "Turtle", clientPlatform: "web" },
          }),
        );
      }),
    );
  }
  const waits: number[] = [];
  let reconciling = true;
  const probe = (async () => {
    while (reconciling) {
      const sent = performance.now();
      await prober.ping();
      waits.push(performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  const started = performance.now();
  const totals = await new SessionStats(store).reconcile();
  const took = performance.now() - started;
  reconciling = false;
  await probe;
  waits.sort((a, b) => a - b);
  const p99 = waits[Math.floor(waits.length * 0.99)] ?? 0;
  console.log(
    `counts in the buckets before: ${args.counts.toLocaleString("en")}; signed-in sessions: ${args.sessions.toLocaleString("en")}`,
  );
  console.log(`reconcile: ${took.toFixed(0)} ms, totals after: ${totals.totalSessions.toLocaleString("en")}`);
  console.log(
    `other clients' waits (PING, ${waits.length} probes): longest ${waits.at(-1)?.toFixed(1)} ms, 99th percentile ${p99.toFixed(1)} ms`,
  );
} finally {
  client.disconnect();
  prober.disconnect();
  await server.dispose();
}
