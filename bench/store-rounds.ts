/**
 * Store-level rounds: every round starts one child per contender (order rotated each
 * round), and each child runs the selected workloads (order reversed every other round).
 * The parent reads Redis's CPU right before "go" and right after the result.
 */
import type { Redis } from "ioredis";
import {
  STORE_CONTENDERS,
  STORE_WORKLOADS,
  lineup,
  type BaselineEntrant,
  type BenchOptions,
  type StoreChildConfig,
} from "./options.js";
import { storeChildMessageSchema } from "./protocol.js";
import { BenchChildError, Child } from "./children.js";
import { redisCpuUs } from "./redis-cpu.js";
import type { Samples } from "./samples.js";

/** Seeding 1,000 sessions and warming up, on a loaded 2-core machine. */
const READY_TIMEOUT_MS = 120_000;

export function rotate<T>(items: readonly T[], by: number): T[] {
  return items.map((_, i) => items[(i + by) % items.length]!);
}

/** `baseline`: with `--baseline`, its build and the A/A copy run as contenders too (options.ts, lineup). */
export async function runStoreRounds(
  options: BenchOptions,
  url: string,
  info: Redis,
  runId: string,
  samples: Samples,
  baseline?: BaselineEntrant,
): Promise<void> {
  const selected = STORE_WORKLOADS.filter((w) => options.only.includes(w));
  if (selected.length === 0) return;
  const entrants = lineup(STORE_CONTENDERS, baseline);
  for (let round = 0; round < options.rounds; round++) {
    const workloads = round % 2 ? [...selected].reverse() : selected;
    for (const { name: contender, kind, libRoot } of rotate(entrants, round)) {
      const config: StoreChildConfig = {
        url,
        contender: kind,
        ...(libRoot === undefined ? {} : { libRoot }),
        workloads,
        namespace: `bench:${runId}:${contender}:${round}`,
        concurrency: options.concurrency,
        seconds: options.storeSeconds,
        warmupSeconds: options.warmupSeconds,
        payload: options.payload,
      };
      const name = `store child ${contender}`;
      const child = new Child(name, "store-child.ts", config, storeChildMessageSchema);
      try {
        for (const workload of workloads) {
          const ready = await child.next(READY_TIMEOUT_MS, `"ready" for ${workload}`);
          if (ready.type !== "ready" || ready.workload !== workload)
            throw new BenchChildError(
              `${name}: expected "ready" for ${workload}, got ${JSON.stringify(ready)}`,
            );
          const redisBefore = await redisCpuUs(info);
          child.send({ type: "go" });
          const result = await child.next(options.storeSeconds * 4_000 + 30_000, `result of ${workload}`);
          const redisAfter = await redisCpuUs(info);
          if (result.type !== "result" || result.workload !== workload)
            throw new BenchChildError(
              `${name}: expected the result of ${workload}, got ${JSON.stringify(result)}`,
            );
          if (result.ops === 0) throw new BenchChildError(`${name}: no ${workload} op completed`);
          const sample = {
            opsPerSec: result.ops / result.seconds,
            nodeUsPerOp: result.cpuUs / result.ops,
            redisUsPerOp: (redisAfter - redisBefore) / result.ops,
          };
          samples.add(workload, contender, round, sample);
          process.stderr.write(
            `  round ${round + 1}/${options.rounds}  ${workload.padEnd(9)} ${contender.padEnd(15)} ${Math.round(sample.opsPerSec).toLocaleString("en-US").padStart(7)} ops/s` +
              `  node ${sample.nodeUsPerOp.toFixed(1).padStart(5)} µs  redis ${sample.redisUsPerOp.toFixed(1).padStart(5)} µs\n`,
          );
        }
        const code = await child.finish(15_000);
        if (code !== 0) throw new BenchChildError(`${name} exited with ${String(code)}`);
      } finally {
        // On any failure above: never leave a child behind.
        await child.finish(1);
      }
    }
  }
}
