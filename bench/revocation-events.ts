/**
 * `npx tsx bench/revocation-events.ts [--sessions=N] [--rounds=N] [--subscribers=N] [--concurrency=N]`:
 * what a revocation costs with and without subscribers to its event (issue 21 item 3).
 *
 * A private redis-server (127.0.0.1, free port, temp dir) holds N signed-in sessions per
 * round; the revoking store destroys them all (`store.destroy`, C in flight). Rounds
 * alternate: none listening, then `--subscribers` stores of the same namespace listening
 * through `onRevoked` (each its own subscriber connection, as each app process has one), so a
 * slow minute hurts both alike. Per round: destroys/s, the revoking process's CPU and
 * Redis's CPU per destroy (the `PUBLISH` runs inside the destroy script, fanned out to every
 * subscriber by Redis), and with subscribers the delay from a destroy's call to each
 * listener's event (median and 99th percentile). Medians over the rounds. Figures only.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { z } from "zod";
import { RelsRedisStore } from "../src/index.js";
import { RelsSessionsManager } from "../src/users/manager.js";
import { sessionHandle, privateHex } from "../src/ids.js";
import { spawnRedisServer } from "../test/helpers/redis.js";
import { revocationsOf } from "../test/support/internals.js";
import { signInMany } from "../test/support/signed-in.js";
import { redisCpuUs } from "./redis-cpu.js";

const args = z
  .object({
    sessions: z.coerce.number().int().min(1).default(5_000),
    rounds: z.coerce.number().int().min(1).default(3),
    subscribers: z.coerce.number().int().min(1).default(4),
    concurrency: z.coerce.number().int().min(1).default(100),
  })
  .parse(Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("="))));

interface Round {
  perSecond: number;
  nodeUs: number;
  redisUs: number;
  delays: number[];
}

const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;
const percentile = (xs: readonly number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

const server = await spawnRedisServer();
const client = new Redis(server.url);
const info = new Redis(server.url);
const namespace = `bench-events-${randomBytes(4).toString("hex")}`;
const store = new RelsRedisStore({ client, namespace, durableRevocation: false });
const manager = new RelsSessionsManager({ store, applicationName: "Turtle", maxSessionsPerUser: 0 });
const listeners: Array<{ client: Redis; store: RelsRedisStore }> = [];
try {
  const calledAt = new Map<string, number>();
  const delays: number[] = [];
  /** Subscribers for one round: stores of the namespace, each with its own connection and listener. */
  const subscribe = async () => {
    for (let i = 0; i < args.subscribers; i++) {
      const own = new Redis(server.url);
      const listening = new RelsRedisStore({ client: own, namespace });
      new RelsSessionsManager({ store: listening, applicationName: "Turtle" }).onRevoked((event) => {
        if (event.reason === "clear") return;
        const at = calledAt.get(event.sessionId);
        if (at !== undefined) delays.push(performance.now() - at);
      });
      listeners.push({ client: own, store: listening });
    }
    await Promise.all(listeners.map(({ store: s }) => revocationsOf(s).subscribed()));
  };
  const unsubscribe = async () => {
    for (const { store: s, client: c } of listeners.splice(0)) {
      await s.close();
      await c.quit();
    }
  };

  const round = async (withSubscribers: boolean): Promise<Round> => {
    const sids = await signInMany(store, manager, `u-${randomBytes(4).toString("hex")}`, args.sessions);
    const handles = sids.map((sid) => sessionHandle(privateHex(sid)));
    calledAt.clear();
    delays.length = 0;
    if (withSubscribers) await subscribe();
    const redisBefore = await redisCpuUs(info);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: args.concurrency }, async () => {
        while (next < sids.length) {
          const i = next++;
          calledAt.set(handles[i]!, performance.now());
          await store.destroy(sids[i]!);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const redisUs = (await redisCpuUs(info)) - redisBefore;
    if (withSubscribers) {
      // Every listener hears every destroy; wait for the last events (a deadline, not a sleep).
      const deadline = performance.now() + 10_000;
      while (delays.length < sids.length * args.subscribers && performance.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await unsubscribe();
    return {
      perSecond: sids.length / seconds,
      // This process runs the listeners too: their share is in the "with" rounds' figure.
      nodeUs: (cpu.user + cpu.system) / sids.length,
      redisUs: redisUs / sids.length,
      delays: [...delays],
    };
  };

  const without: Round[] = [];
  const withSubs: Round[] = [];
  for (let r = 0; r < args.rounds; r++) {
    without.push(await round(false));
    withSubs.push(await round(true));
  }
  const row = (name: string, rounds: Round[]) => {
    const delays = rounds.flatMap((r) => r.delays);
    return [
      name.padEnd(28),
      `${Math.round(median(rounds.map((r) => r.perSecond)))}`.padStart(9),
      median(rounds.map((r) => r.nodeUs))
        .toFixed(1)
        .padStart(10),
      median(rounds.map((r) => r.redisUs))
        .toFixed(1)
        .padStart(11),
      (delays.length
        ? `${median(delays).toFixed(1)} / ${percentile(delays, 0.99).toFixed(1)} ms`
        : "—"
      ).padStart(20),
      delays.length ? `${delays.length} events` : "",
    ].join("  ");
  };
  console.log(
    `revocation events: ${args.sessions} destroys per round, ${args.concurrency} in flight, ${args.rounds} rounds alternating (medians)`,
  );
  console.log(
    [
      "".padEnd(28),
      "destroys/s".padStart(9),
      "Node µs/op".padStart(10),
      "Redis µs/op".padStart(11),
      "event delay p50 / p99".padStart(20),
    ].join("  "),
  );
  console.log(row("no subscriber", without));
  console.log(row(`${args.subscribers} subscribers (onRevoked)`, withSubs));
} finally {
  for (const { store: s, client: c } of listeners) {
    await s.close();
    await c.quit();
  }
  await store.close();
  await client.quit();
  await info.quit();
  await server.dispose();
}
