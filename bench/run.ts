/**
 * `npm run bench` (= `tsx bench/run.ts`): rels-session next to connect-redis 9 + node-redis 5,
 * raw ioredis (corked and plain) and MemoryStore, at store level and end to end.
 *
 * This process only orchestrates: it spawns a private redis-server on 127.0.0.1, starts every
 * contender in a child process of its own (round after round, order rotated), reads Redis's
 * CPU around each measurement, generates the HTTP load, and prints medians with min–max,
 * ratios to each baseline and issue 7's targets; with `--baseline=<git-rev>`, that revision's
 * build and an A/A copy of this one run too, and "Builds compared" prints paired ratios
 * against the A/A band. See bench/README.md.
 *
 * Figures only: nothing here asserts a speed. Exit code 0 unless something failed outright.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { availableParallelism, cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { z } from "zod";
import { spawnRedisServer, type SpawnedRedis } from "../test/helpers/redis.js";
import {
  AA_NAME,
  HTTP_CONTENDERS,
  HTTP_WORKLOADS,
  STORE_WORKLOADS,
  httpWorkloadsFor,
  USAGE,
  UsageError,
  parseBenchArgs,
  type BenchOptions,
} from "./options.js";
import { Samples } from "./samples.js";
import { runStoreRounds } from "./store-rounds.js";
import { runHttpRounds } from "./http-rounds.js";
import { buildsReport, heading, httpReport, storeReport, targetsReport } from "./report.js";
import { addBaselineWorktree, type BaselineBuild } from "./baseline.js";
import { BenchChildError, Child } from "./children.js";
import { redisCpuUs } from "./redis-cpu.js";

/** Redis's CPU per second while nobody uses it: the floor under every Redis µs/op figure. */
async function redisIdleUsPerSecond(info: Redis): Promise<number> {
  const before = await redisCpuUs(info);
  const started = performance.now();
  // A measurement window, not a wait for readiness.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return ((await redisCpuUs(info)) - before) / ((performance.now() - started) / 1000);
}

function describe(
  options: BenchOptions,
  redisVersion: string,
  url: string,
  idleUs: number,
  baseline: BaselineBuild | undefined,
): void {
  const args = process.argv.slice(2).join(" ");
  heading("rels-session benchmark");
  const facts: Array<[string, string]> = [
    ["command", `npm run bench${args ? ` -- ${args}` : ""}`],
    ["node", `${process.version} (${process.platform}/${process.arch})`],
    ["cpus", `${availableParallelism()} × ${cpus()[0]?.model.trim() ?? "?"}`],
    [
      "load average",
      loadavg()
        .map((l) => l.toFixed(2))
        .join(" "),
    ],
    [
      "redis",
      `${redisVersion}, private redis-server at ${url}; idle, it used ${Math.round(idleUs)} µs of CPU per second`,
    ],
    ["rounds", `${options.rounds}, every contender in a process of its own each round, order rotated`],
    [
      "store level",
      `${options.concurrency} concurrent callers, ${options.storeSeconds} s measured after ${options.warmupSeconds} s warm-up, ${options.payload} B JSON session`,
    ],
    [
      "end to end",
      `${options.connections} keep-alive connections (autocannon, in this process), ${options.httpSeconds} s measured after ${options.httpWarmupSeconds} s warm-up`,
    ],
    ["workloads", options.only.join(", ")],
  ];
  if (baseline) {
    facts.push(
      [
        "baseline",
        `${baseline.name}: ${options.baseline ?? "?"} = ${baseline.commit}, its src/ from a git worktree at ${baseline.root}`,
      ],
      [
        "A/A",
        `${AA_NAME}: this tree's build again, in processes of its own (the noise band of "Builds compared")`,
      ],
    );
  }
  for (const [key, value] of facts) console.log(`${key.padEnd(13)} ${value}`);
}

/** Round trips per operation: a child that prints its own table (bench/round-trips.ts). */
async function runRoundTrips(url: string, runId: string): Promise<void> {
  heading("Round trips to Redis per operation (rels, standalone; commands sent in one macrotask = 1 trip)");
  const child = new Child(
    "round-trips child",
    "round-trips.ts",
    { url, namespace: `bench:${runId}:trips` },
    z.never(),
  );
  const code = await child.finish(120_000);
  if (code !== 0) throw new BenchChildError(`round-trips child exited with ${String(code)}`);
}

/**
 * What a revocation costs with and without subscribers to its event: a child of its own
 * (bench/revocation-events.ts, its own redis-server), one round per round of this run.
 */
async function runRevocationEvents(rounds: number): Promise<void> {
  heading("Revocation events: destroys with and without subscribers (rels, standalone)");
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      fileURLToPath(new URL("./revocation-events.ts", import.meta.url)),
      `--rounds=${rounds}`,
    ],
    { stdio: "inherit" },
  );
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new BenchChildError(`revocation-events child exited with ${String(code)}`);
}

async function main(): Promise<void> {
  const parsed = parseBenchArgs(process.argv.slice(2));
  if (parsed === "help") {
    console.log(USAGE);
    return;
  }
  const options = parsed;
  const started = performance.now();
  const runId = randomBytes(4).toString("hex");
  let redis: SpawnedRedis | undefined;
  let info: Redis | undefined;
  let baseline: BaselineBuild | undefined;
  try {
    // First: an unknown revision is a usage error, before anything is started.
    if (options.baseline !== undefined) baseline = addBaselineWorktree(options.baseline);
    // A private server, never REDIS_URL: its INFO cpu must count this run's work and nothing else.
    redis = await spawnRedisServer();
    info = new Redis(redis.url, { lazyConnect: true });
    await info.connect();
    const version = /redis_version:(\S+)/.exec(await info.info("server"))?.[1] ?? "?";
    describe(options, version, redis.url, await redisIdleUsPerSecond(info), baseline);
    const builds = baseline ? [baseline.name, AA_NAME] : [];

    const samples = new Samples();
    const storeWorkloads = STORE_WORKLOADS.filter((w) => options.only.includes(w));
    // Everything any HTTP contender runs (connect-redis's "modify" comes along with "tracked").
    const httpWorkloads = HTTP_WORKLOADS.filter((w) =>
      HTTP_CONTENDERS.some((c) => httpWorkloadsFor(c, options.only).includes(w)),
    );
    if (storeWorkloads.length > 0) {
      process.stderr.write("\nstore level\n");
      await runStoreRounds(options, redis.url, info, runId, samples, baseline);
    }
    if (httpWorkloads.length > 0) {
      process.stderr.write("\nend to end\n");
      await runHttpRounds(options, redis.url, info, runId, samples, baseline);
    }
    storeReport(samples, storeWorkloads, options.rounds, options.storeSeconds, options.concurrency, builds);
    httpReport(samples, httpWorkloads, options.rounds, options.httpSeconds, options.connections, builds);
    if (storeWorkloads.length > 0 || httpWorkloads.length > 0) {
      targetsReport(samples);
      console.log(
        "\nColumns: median (min–max) over the rounds. Node µs/op is the CPU (user + system) of the process doing the work:" +
          "\nthe store child, or the HTTP server child (not the load generator). Redis µs/op is used_cpu_user + used_cpu_sys" +
          "\nof the private redis-server. × columns: ratio of medians, ops/s / Node µs / Redis µs, against each baseline" +
          "\nmeasured in this run (— where a ratio means nothing, e.g. Redis CPU against MemoryStore).",
      );
    }
    if (baseline) {
      buildsReport(
        samples,
        [
          ...storeWorkloads.map((w) => ({ workload: w, title: `store level ${w}`, unit: "pairs" })),
          ...httpWorkloads
            .filter((w) => httpWorkloadsFor("rels", options.only).includes(w))
            .map((w) => ({ workload: w, title: `end to end ${w}`, unit: "req" })),
        ],
        { current: "rels", baseline: baseline.name, aa: AA_NAME },
      );
    }
    if (options.only.includes("round-trips")) await runRoundTrips(redis.url, runId);
    if (options.only.includes("revocation-events")) await runRevocationEvents(options.rounds);
    console.log(
      `\ntotal run time ${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
  } finally {
    try {
      await info?.quit().catch(() => undefined);
      await redis?.dispose();
    } finally {
      baseline?.dispose();
    }
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof UsageError ? error.message : error);
    process.exit(1);
  },
);
