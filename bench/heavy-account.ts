/**
 * Heavy accounts (issue 8): one user with 60,000 sessions, and what listing and revoking
 * them costs this process while another user keeps using the same store.
 *
 *   npx tsx --expose-gc bench/heavy-account.ts [--sessions=60000] [--batch=1000] [--only=list|page|logout]
 *
 * RSS rarely shrinks right after a gc, so the garbage of one call hides the next call's
 * growth: for each call's RSS on its own, run it alone (`--only=…`, one process each).
 *
 * For each of `activeSessions(user)`, `activeSessionsPage(user, { limit: 50 })` and
 * `logoutAllSessions(user)`: wall time, RSS growth (`process.memoryUsage().rss` right after the
 * call, and the highest sampled every 5 ms while it ran, minus before it; "before" is taken
 * after a `global.gc()` when run with --expose-gc, so "after" can be negative), and
 * the longest event-loop block (`monitorEventLoopDelay`, max). Meanwhile a bystander runs a
 * get + set loop on her own session: her failures (must be 0) and her slowest operation.
 * It prints figures and asserts nothing; it exits 1 only if the bystander failed or a call
 * returned the wrong count. Redis is a private `redis-server` on 127.0.0.1 (spawnRedisServer).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import { RelsRedisStore } from "../src/index.js";
import { RelsSessionsManager } from "../src/users/manager.js";
import { spawnRedisServer, type SpawnedRedis } from "../test/helpers/redis.js";
import { newSid, signedInSession, signInMany } from "../test/support/signed-in.js";

const DEFAULTS = { sessions: 60_000, batch: 1_000 } as const;
const CALLS = ["list", "page", "logout"] as const;
type Call = (typeof CALLS)[number];

function onlyArg(): ReadonlySet<Call> {
  const raw = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  if (raw === undefined) return new Set(CALLS);
  const wanted = raw.split(",");
  const unknown = wanted.filter((w) => !(CALLS as readonly string[]).includes(w));
  if (unknown.length > 0) throw new RangeError(`--only takes ${CALLS.join(", ")} (comma-separated)`);
  return new Set(wanted as Call[]);
}

function numberArg(name: string, fallback: number): number {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`--${name} must be a positive integer`);
  return value;
}

const gc = (globalThis as { gc?: () => void }).gc;
const MiB = 1024 * 1024;

/** A get + set loop on one session of another user, until stopped; counts failures and the slowest op. */
class Bystander {
  failures = 0;
  ops = 0;
  slowestMs = 0;
  #running = true;
  /** Bumped by reset(): an op that began before it is not counted in the new figures. */
  #epoch = 0;
  readonly #done: Promise<void>;

  constructor(store: RelsRedisStore, sid: string) {
    this.#done = this.#loop(store, sid);
  }

  /** Forget the figures so far (one measurement each). */
  reset(): void {
    this.#epoch += 1;
    this.failures = 0;
    this.ops = 0;
    this.slowestMs = 0;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  async #loop(store: RelsRedisStore, sid: string): Promise<void> {
    let visits = 0;
    while (this.#running) {
      const epoch = this.#epoch;
      const started = performance.now();
      let failed = false;
      try {
        const session = (await store.get(sid)) as (SessionData & { visits?: number }) | null;
        if (session === null) throw new Error("the bystander's session is gone");
        session.visits = ++visits;
        await store.set(sid, session);
      } catch {
        failed = true;
      }
      if (epoch === this.#epoch) {
        this.ops += 1;
        if (failed) this.failures += 1;
        this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
      }
      // One get + set at a time, as one user's requests come; let the event loop breathe.
      await nextTurn();
    }
  }
}

interface Row {
  operation: string;
  result: string;
  "wall ms": string;
  "RSS +MiB after": string;
  "RSS +MiB peak": string;
  "heap +MiB peak": string;
  "longest block ms": string;
  "bystander get+set": number;
  "bystander failures": number;
  "bystander slowest ms": string;
}

async function measure(operation: string, bystander: Bystander, run: () => Promise<string>): Promise<Row> {
  gc?.();
  const rssBefore = process.memoryUsage().rss;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  bystander.reset();
  // Sampled while the call runs: what it holds at its widest, not only what is left after.
  const heapBefore = process.memoryUsage().heapUsed;
  let rssPeak = rssBefore;
  let heapPeak = heapBefore;
  const sample = () => {
    const { rss, heapUsed } = process.memoryUsage();
    rssPeak = Math.max(rssPeak, rss);
    heapPeak = Math.max(heapPeak, heapUsed);
  };
  const sampler = setInterval(sample, 5);
  loop.enable();
  const started = performance.now();
  const result = await run();
  const wallMs = performance.now() - started;
  loop.disable();
  clearInterval(sampler);
  sample();
  const rssAfter = process.memoryUsage().rss;
  return {
    operation,
    result,
    "wall ms": wallMs.toFixed(0),
    "RSS +MiB after": ((rssAfter - rssBefore) / MiB).toFixed(1),
    "RSS +MiB peak": ((rssPeak - rssBefore) / MiB).toFixed(1),
    "heap +MiB peak": ((heapPeak - heapBefore) / MiB).toFixed(1),
    "longest block ms": (loop.max / 1e6).toFixed(1),
    "bystander get+set": bystander.ops,
    "bystander failures": bystander.failures,
    "bystander slowest ms": bystander.slowestMs.toFixed(1),
  };
}

async function main(): Promise<void> {
  const sessions = numberArg("sessions", DEFAULTS.sessions);
  const batch = numberArg("batch", DEFAULTS.batch);
  const only = onlyArg();
  let redis: SpawnedRedis | undefined;
  let client: Redis | undefined;
  try {
    redis = await spawnRedisServer();
    client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    // No per-user bound: the point is an account far past the default 1,000.
    const store = new RelsRedisStore({ client, namespace: "bench-heavy", maxSessionsPerUser: 0 });
    const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
    const user = "heavy";

    const signInStarted = performance.now();
    await signInMany(store, manager, user, sessions, { batch });
    const signInSeconds = (performance.now() - signInStarted) / 1000;
    process.stderr.write(
      `signed in ${sessions} sessions of one user in ${signInSeconds.toFixed(1)} s (batches of ${batch})\n`,
    );

    const bystanderSid = newSid();
    await store.set(bystanderSid, await signedInSession(manager, bystanderSid, "bystander"));
    const bystander = new Bystander(store, bystanderSid);

    const rows: Row[] = [];
    let ok = true;
    const expectCount = (what: string, got: number, want: number): string => {
      if (got !== want) {
        ok = false;
        process.stderr.write(`${what}: expected ${want}, got ${got}\n`);
      }
      return `${got}`;
    };
    rows.push(
      await measure("idle (baseline)", bystander, async () => {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return "—";
      }),
    );
    if (only.has("list"))
      rows.push(
        await measure("activeSessions(user)", bystander, async () =>
          expectCount("activeSessions", (await manager.activeSessions(user)).length, sessions),
        ),
      );
    if (only.has("page"))
      rows.push(
        await measure("activeSessionsPage(user, { limit: 50 })", bystander, async () =>
          expectCount(
            "activeSessionsPage",
            (await manager.activeSessionsPage(user, { limit: 50 })).sessions.length,
            Math.min(50, sessions),
          ),
        ),
      );
    if (only.has("logout"))
      rows.push(
        await measure("logoutAllSessions(user)", bystander, async () =>
          expectCount("logoutAllSessions", await manager.logoutAllSessions(user), sessions),
        ),
      );
    await bystander.stop();
    if (bystander.failures > 0) ok = false;

    console.log(
      `\nHeavy account: ${sessions} sessions of one user; Redis ${redis.url}; gc ${gc ? "before each call" : "unavailable (run with --expose-gc)"}`,
    );
    console.table(rows);
    const failures = rows.reduce((sum, row) => sum + row["bystander failures"], 0);
    console.log(`bystander failures in all: ${failures}`);
    if (!ok) process.exitCode = 1;
  } finally {
    await client?.quit().catch(() => undefined);
    await redis?.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
