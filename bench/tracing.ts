/**
 * `npx tsx bench/tracing.ts`: what tracing costs on the hot path. The store's get + set
 * throughput (concurrent callers, as bench/run.ts measures it) with nobody listening to the
 * diagnostics channels, and with the OpenTelemetry bridge subscribed (a histogram record per
 * operation). Runs alternate, and the median of each is reported.
 *
 *   --ops N          get+set pairs per measurement (default 20000)
 *   --concurrency C  concurrent callers (default 100)
 *   --repeats R      measurements per mode (default 5)
 *
 * Figures only: nothing here asserts anything.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { createRelsSession } from "../src/instance.js";
import type { RelsSessionInstance } from "../src/instance.js";
import { registerRelsSessionMetrics } from "../src/opentelemetry.js";
import { provideRedis } from "../test/helpers/redis.js";
import { benchSession, newSids } from "./fixtures.js";

const { values: args } = parseArgs({
  options: {
    ops: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "100" },
    repeats: { type: "string", default: "5" },
  },
});
const ops = Number(args.ops);
const concurrency = Number(args.concurrency);
const repeats = Number(args.repeats);

/** Collected on demand only: the bench measures recording, not exporting. */
class IdleReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

interface Run {
  readonly pairsPerSecond: number;
  /** This process's CPU time (user + system) per pair, µs: steadier than throughput on a shared machine. */
  readonly cpuMicrosPerPair: number;
}

async function measure(sessions: RelsSessionInstance): Promise<Run> {
  const sids = newSids(ops);
  const session = benchSession();
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ops) {
        const sid = sids[next++]!;
        await sessions.store.set(sid, session);
        await sessions.store.get(sid);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { pairsPerSecond: ops / (elapsedMs / 1000), cpuMicrosPerPair: (used.user + used.system) / ops };
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const redis = await provideRedis();
const namespace = `bench-tracing-${randomUUID()}`;
const sessions = createRelsSession({ applicationName: "bench", redisOptions: { url: redis.url, namespace } });
const provider = new MeterProvider({ readers: [new IdleReader()] });
const plain: Run[] = [];
const traced: Run[] = [];
try {
  await measure(sessions); // warm-up: connections, scripts, JIT
  for (let i = 0; i < repeats; i++) {
    // Alternate which mode goes first: the keyspace grows as runs go on.
    const runPlain = async () => plain.push(await measure(sessions));
    const runTraced = async () => {
      const bridge = registerRelsSessionMetrics(sessions, { meter: provider.getMeter("bench") });
      try {
        traced.push(await measure(sessions));
      } finally {
        bridge.unregister();
      }
    };
    if (i % 2 === 0) {
      await runPlain();
      await runTraced();
    } else {
      await runTraced();
      await runPlain();
    }
  }
  const row = (label: string, runs: Run[], base?: Run[]) => {
    const rate = median(runs.map((r) => r.pairsPerSecond));
    const cpu = median(runs.map((r) => r.cpuMicrosPerPair));
    const vs = base
      ? `  (${((rate / median(base.map((r) => r.pairsPerSecond))) * 100).toFixed(1)} % of the rate, +${(cpu - median(base.map((r) => r.cpuMicrosPerPair))).toFixed(1)} µs CPU per pair)`
      : "";
    console.log(
      `  ${label.padEnd(26)} ${rate.toFixed(0).padStart(7)} pairs/s  ${cpu.toFixed(1).padStart(6)} µs CPU/pair${vs}`,
    );
  };
  console.log(`get+set pairs, ${ops} per run, ${concurrency} callers, median of ${repeats} runs each:`);
  row("no channel subscriber", plain);
  row("OpenTelemetry bridge on", traced, plain);
} finally {
  await sessions.store.clear();
  await sessions.close();
  await provider.shutdown();
  await redis.stop();
}
