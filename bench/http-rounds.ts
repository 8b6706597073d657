/**
 * End-to-end rounds: every round starts one server child per contender (order rotated each
 * round) and loads it from this process with each workload of HTTP_PLAN in turn, each on
 * freshly signed-in sessions. Node CPU is the server child's (asked over IPC), Redis CPU
 * the private redis-server's.
 */
import type { Redis } from "ioredis";
import {
  HTTP_CONTENDERS,
  httpWorkloadsFor,
  lineup,
  type BaselineEntrant,
  type BenchOptions,
  type HttpServerConfig,
  type HttpWorkload,
} from "./options.js";
import { httpServerMessageSchema, type HttpServerMessage } from "./protocol.js";
import { BenchChildError, Child } from "./children.js";
import { redisCpuUs } from "./redis-cpu.js";
import { load, signIn } from "./http-load.js";
import { rotate } from "./store-rounds.js";
import type { Samples } from "./samples.js";

/** What each HTTP workload sends, and whether its sign-in is recorded by the manager. */
export const REQUEST: Readonly<
  Record<HttpWorkload, { method: "GET" | "POST"; path: string; record: boolean }>
> = {
  unchanged: { method: "GET", path: "/me", record: false },
  modify: { method: "POST", path: "/visit", record: false },
  tracked: { method: "POST", path: "/visit-tracked", record: true },
};

async function serverCpuUs(child: Child<HttpServerMessage>, name: string): Promise<number> {
  child.send({ type: "cpu" });
  const reply = await child.next(10_000, "CPU reading");
  if (reply.type !== "cpu")
    throw new BenchChildError(`${name}: expected a CPU reading, got ${JSON.stringify(reply)}`);
  return reply.us;
}

/** `baseline`: with `--baseline`, its build and the A/A copy run as contenders too (options.ts, lineup). */
export async function runHttpRounds(
  options: BenchOptions,
  url: string,
  info: Redis,
  runId: string,
  samples: Samples,
  baseline?: BaselineEntrant,
): Promise<void> {
  const entrants = lineup(HTTP_CONTENDERS, baseline).filter(
    (e) => httpWorkloadsFor(e.kind, options.only).length > 0,
  );
  for (let round = 0; round < options.rounds; round++) {
    for (const { name: contender, kind, libRoot } of rotate(entrants, round)) {
      const planned = httpWorkloadsFor(kind, options.only);
      const workloads = round % 2 ? [...planned].reverse() : planned;
      const config: HttpServerConfig = {
        url,
        contender: kind,
        namespace: `bench:${runId}:http-${contender}:${round}`,
        ...(libRoot === undefined ? {} : { libRoot }),
      };
      const name = `http server ${contender}`;
      const child = new Child(name, "http-server.ts", config, httpServerMessageSchema);
      try {
        const listening = await child.next(60_000, "listening port");
        if (listening.type !== "listening")
          throw new BenchChildError(`${name}: expected its port, got ${JSON.stringify(listening)}`);
        const base = `http://127.0.0.1:${listening.port}`;
        for (const workload of workloads) {
          const { method, path, record } = REQUEST[workload];
          const users = Array.from(
            { length: options.connections },
            (_, i) => `bench-${round}-${workload}-${i}`,
          );
          const cookies = await signIn(base, users, record);
          await load(base, method, path, cookies, options.httpWarmupSeconds);
          const cpuBefore = await serverCpuUs(child, name);
          const redisBefore = await redisCpuUs(info);
          const result = await load(base, method, path, cookies, options.httpSeconds);
          const redisAfter = await redisCpuUs(info);
          const cpuAfter = await serverCpuUs(child, name);
          const sample = {
            opsPerSec: result.requests / result.seconds,
            nodeUsPerOp: (cpuAfter - cpuBefore) / result.requests,
            redisUsPerOp: (redisAfter - redisBefore) / result.requests,
          };
          samples.add(workload, contender, round, sample);
          process.stderr.write(
            `  round ${round + 1}/${options.rounds}  ${workload.padEnd(9)} ${contender.padEnd(15)} ${Math.round(sample.opsPerSec).toLocaleString("en-US").padStart(7)} req/s` +
              `  node ${sample.nodeUsPerOp.toFixed(1).padStart(5)} µs  redis ${sample.redisUsPerOp.toFixed(1).padStart(5)} µs\n`,
          );
        }
        child.send({ type: "stop" });
        const code = await child.finish(15_000);
        if (code !== 0) throw new BenchChildError(`${name} exited with ${String(code)}`);
      } finally {
        // On any failure above: never leave a server behind.
        await child.finish(1);
      }
    }
  }
}
