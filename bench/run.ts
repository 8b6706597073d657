/**
 * `npm run bench` (= `tsx bench/run.ts`): throughput, round trips per operation and latency
 * of RelsRedisStore next to raw ioredis and connect-redis, on one Redis from provideRedis().
 *
 *   --ops N          get+set pairs per throughput measurement (default 20000)
 *   --concurrency C  concurrent callers (default 100)
 *   --repeats R      measurements per contender; the median is reported (default 3)
 *   --warmup N       pairs before each measurement (default 1000)
 *   --sessions N     sessions of the user in the activeSessions / logoutAllSessions rows (default 1000)
 *   --latency N      samples per contender at concurrency 1 (default 3000)
 *   --payload BYTES  JSON size of the session (default 1024)
 *
 * Figures only: nothing here asserts a budget (DESIGN.md, "Budgets"). Exit code 0 unless
 * something failed outright.
 */
import { availableParallelism, cpus, loadavg } from "node:os";
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import express, { type NextFunction, type Request, type Response } from "express";
import session, { type SessionData } from "express-session";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { RedisStore as ConnectRedisStore } from "connect-redis";
import { RelsSession } from "../src/rels-session.js";
import { RelsRedisStore } from "../src/store.js";
import { POOL_DEFAULTS } from "../src/redis/pool.js";
import { RelsSessionsManager } from "../src/manager.js";
import { SessionStats } from "../src/stats.js";
import { provideRedis, type ProvidedRedis } from "../test/helpers/redis.js";
import { benchSession, bump, newSid, newSids, SESSION_MAX_AGE_MS, ttlMsOf } from "./fixtures.js";
import { countRoundTrips, type RoundTripCounter } from "../test/support/round-trips.js";

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    ops: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "100" },
    repeats: { type: "string", default: "3" },
    warmup: { type: "string", default: "1000" },
    sessions: { type: "string", default: "1000" },
    latency: { type: "string", default: "3000" },
    payload: { type: "string", default: "1024" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (args.help) {
  console.log("usage: tsx bench/run.ts [--ops 20000] [--concurrency 100] [--repeats 3] [--warmup 1000] [--sessions 1000] [--latency 3000] [--payload 1024]");
  process.exit(0);
}

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${String(value)}`);
  return n;
}

const OPTIONS = {
  ops: positiveInt("ops", args.ops),
  concurrency: positiveInt("concurrency", args.concurrency),
  repeats: positiveInt("repeats", args.repeats),
  warmup: positiveInt("warmup", args.warmup),
  sessions: positiveInt("sessions", args.sessions),
  latency: positiveInt("latency", args.latency),
  payload: positiveInt("payload", args.payload),
};

/** Distinct sessions the throughput callers cycle through (each caller owns 10). */
const KEYSPACE = OPTIONS.concurrency * 10;
const POOL_SIZES = [1, 2, 4] as const;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n: number) => (n < 10 ? n.toFixed(3) : n.toFixed(1));
const pct = (n: number) => `${(n * 100).toFixed(0)} %`;

function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, alignLeft: readonly number[] = [0]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (alignLeft.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function heading(title: string): void {
  console.log(`\n${title}\n${"=".repeat(title.length)}`);
}

/**
 * A full GC between measurements, so no contender pays for the garbage of the one before it.
 * `npm run bench` runs plain `tsx`, without --expose-gc: turn the flag on from here.
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString("--expose-gc");
  const gc: unknown = runInNewContext("gc");
  return typeof gc === "function" ? (gc as () => void) : () => undefined;
})();

/** `pairs` get+set pairs spread over `concurrency` callers; returns the elapsed ms. */
async function drive(pairs: number, sids: readonly string[], pair: (sid: string) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: OPTIONS.concurrency }, async () => {
      for (let i = next++; i < pairs; i = next++) await pair(sids[i % sids.length]!);
    }),
  );
  return performance.now() - started;
}

// ---------------------------------------------------------------------------------------------
// Throughput contenders
// ---------------------------------------------------------------------------------------------

interface Contender {
  readonly name: string;
  /** Get ready for one measurement (connect, reconfigure); returns one get+set pair. */
  prepare(): Promise<(sid: string) => Promise<void>>;
  /** Write every session once, before the first measurement. */
  seed(sids: readonly string[], payload: SessionData): Promise<void>;
  /** What "% of raw" is computed against. */
  readonly baseline?: boolean;
  readonly isStore?: boolean;
  /** Not a configuration RelsSession.configure() offers; shown for comparison only. */
  readonly extra?: boolean;
}

function missing(name: string, sid: string): never {
  throw new Error(`${name}: session ${sid.slice(0, 6)}… vanished during the benchmark`);
}

async function seedInChunks(sids: readonly string[], write: (sid: string) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < sids.length; i += 200) await Promise.all(sids.slice(i, i + 200).map(write));
}

/** raw ioredis: GET, JSON.parse, JSON.stringify, SET key val PX ttl: the least any store does. */
function rawContender(name: string, client: Redis, prefix: string, baseline: boolean): Contender {
  const pair = async (sid: string) => {
    const key = prefix + sid;
    const raw = await client.get(key);
    if (raw === null) missing(name, sid);
    const sess = bump(JSON.parse(raw) as SessionData);
    await client.set(key, JSON.stringify(sess), "PX", Math.ceil(ttlMsOf(sess)));
  };
  return {
    name,
    baseline,
    prepare: async () => pair,
    seed: (sids, payload) =>
      seedInChunks(sids, (sid) => client.set(prefix + sid, JSON.stringify(payload), "PX", Math.ceil(ttlMsOf(payload)))),
  };
}

function storePair(name: string, store: { get(sid: string): Promise<unknown>; set(sid: string, s: SessionData): Promise<unknown> }) {
  return async (sid: string) => {
    const sess = (await store.get(sid)) as SessionData | null;
    if (!sess) missing(name, sid);
    await store.set(sid, bump(sess));
  };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

interface Cleanup {
  readonly what: string;
  run(): Promise<unknown>;
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const cleanups: Cleanup[] = [];
  let redis: ProvidedRedis | undefined;
  const namespace = `bench:${randomBytes(4).toString("hex")}`;

  try {
    redis = await provideRedis();
    const url = redis.url;

    const raw = new Redis(url, { lazyConnect: true });
    const rawAuto = new Redis(url, { lazyConnect: true, enableAutoPipelining: true });
    const appClient = new Redis(url, { lazyConnect: true });
    const touchClient = new Redis(url, { lazyConnect: true });
    await Promise.all([raw.connect(), rawAuto.connect(), appClient.connect(), touchClient.connect()]);
    for (const c of [raw, rawAuto, appClient, touchClient]) cleanups.push({ what: "ioredis client", run: () => c.quit() });

    const nodeRedis = createClient({ url });
    nodeRedis.on("error", () => undefined);
    await nodeRedis.connect();
    cleanups.push({ what: "node-redis client", run: () => nodeRedis.close() });
    cleanups.push({ what: "RelsSession pool", run: () => RelsSession.close() });

    // ---- environment ------------------------------------------------------------------------
    const info = await raw.info("server");
    const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? "?";
    const command = process.env.npm_lifecycle_event === "bench" ? `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}` : `tsx bench/run.ts ${process.argv.slice(2).join(" ")}`.trim();
    const payload = benchSession(OPTIONS.payload);
    const payloadBytes = Buffer.byteLength(JSON.stringify(payload));

    heading("rels-session benchmark");
    const facts: Array<[string, string]> = [
      ["command", command],
      ["node", `${process.version} (${process.platform}/${process.arch})`],
      ["cpus", `${availableParallelism()} × ${cpus()[0]?.model.trim() ?? "?"}`],
      ["load average", loadavg().map((l) => l.toFixed(2)).join(" ")],
      ["redis", `${redisVersion} (${redis.source === "env" ? "REDIS_URL" : redis.source}, ${url.replace(/\/\/[^@]*@/, "//***@")})`],
      ["namespace", namespace],
      [
        "workload",
        `${fmtInt(OPTIONS.ops)} get+set pairs × ${OPTIONS.repeats} runs per contender, ${OPTIONS.concurrency} concurrent callers, ` +
          `${fmtInt(KEYSPACE)} sessions of ${payloadBytes} B JSON, warm-up ${fmtInt(OPTIONS.warmup)} pairs before each run`,
      ],
    ];
    for (const [key, value] of facts) console.log(`${key.padEnd(13)} ${value}`);

    // ---- 1. throughput ------------------------------------------------------------------------
    const sids = newSids(KEYSPACE);
    const connectRedis = new ConnectRedisStore({ client: nodeRedis, prefix: `${namespace}:cr:` });
    const clientStore = new RelsRedisStore({ client: appClient, namespace });

    const autoStoreClient = new Redis(url, { lazyConnect: true, enableAutoPipelining: true });
    await autoStoreClient.connect();
    cleanups.push({ what: "ioredis client", run: () => autoStoreClient.quit() });
    const autoStore = new RelsRedisStore({ client: autoStoreClient, namespace });

    const configurePool = (size: number) => {
      RelsSession.configure({ applicationName: "bench", redisOptions: { url, namespace }, connectionPoolOptions: { size } });
      return RelsSession.store();
    };
    const contenders: Contender[] = [
      rawContender("raw ioredis GET + SET PX (1 conn)", raw, `${namespace}:raw:`, true),
      rawContender("raw ioredis, enableAutoPipelining", rawAuto, `${namespace}:raw:`, false),
      ...POOL_SIZES.map(
        (size): Contender => ({
          name: `RelsSession.store(), pool size ${size}`,
          isStore: true,
          prepare: async () => {
            // configure() replaces the shared pool: close the previous one first, so its
            // shutdown does not overlap this measurement.
            await RelsSession.close();
            const store = configurePool(size);
            // Open the pool with one call, not 100 at once (see the README on cold starts).
            await store.get(sids[0]!);
            return storePair(`pool ${size}`, store);
          },
          seed: async (seedSids, sess) => {
            await RelsSession.close();
            const store = configurePool(size);
            await store.get(sids[0]!);
            await seedInChunks(seedSids, (sid) => store.set(sid, structuredClone(sess)));
          },
        }),
      ),
      {
        name: "RelsRedisStore({ client }), plain ioredis",
        isStore: true,
        prepare: async () => storePair("client store", clientStore),
        seed: (seedSids, sess) => seedInChunks(seedSids, (sid) => clientStore.set(sid, structuredClone(sess))),
      },
      {
        name: "RelsRedisStore({ client }), autopipelined *",
        isStore: true,
        extra: true,
        // Same keys as the other store rows: already seeded.
        prepare: async () => storePair("autopipelined client store", autoStore),
        seed: async () => undefined,
      },
      {
        name: "connect-redis 9 + node-redis 5",
        prepare: async () => storePair("connect-redis", connectRedis as unknown as Parameters<typeof storePair>[1]),
        seed: (seedSids, sess) => seedInChunks(seedSids, (sid) => connectRedis.set(sid, structuredClone(sess))),
      },
    ];

    heading(`1. Throughput: get+set pairs/s at ${OPTIONS.concurrency} concurrent callers (median of ${OPTIONS.repeats}, interleaved)`);
    const redisCpuSeconds = async () => {
      const cpu = await raw.info("cpu");
      const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? NaN);
      return field("used_cpu_user") + field("used_cpu_sys");
    };
    interface Sample {
      readonly rate: number;
      readonly nodeUs: number;
      readonly redisUs: number;
    }
    const samples = new Map<Contender, Sample[]>(contenders.map((c) => [c, []]));
    const seeded = new Set<Contender>();
    for (let rep = 0; rep < OPTIONS.repeats; rep++) {
      // Rotate the order each round, so no contender always runs first (or right after GC-heavy ones).
      const order = contenders.map((_, i) => contenders[(i + rep) % contenders.length]!);
      for (const contender of order) {
        if (!seeded.has(contender)) {
          await contender.seed(sids, payload);
          seeded.add(contender);
        }
        const pair = await contender.prepare();
        await drive(OPTIONS.warmup, sids, pair);
        collectGarbage();
        const redisBefore = await redisCpuSeconds();
        const cpuBefore = process.cpuUsage();
        const ms = await drive(OPTIONS.ops, sids, pair);
        const cpu = process.cpuUsage(cpuBefore);
        const redisUs = ((await redisCpuSeconds()) - redisBefore) * 1e6;
        const sample = { rate: (OPTIONS.ops / ms) * 1000, nodeUs: (cpu.user + cpu.system) / OPTIONS.ops, redisUs: redisUs / OPTIONS.ops };
        samples.get(contender)!.push(sample);
        process.stderr.write(`  round ${rep + 1}/${OPTIONS.repeats}: ${contender.name.padEnd(44)} ${fmtInt(sample.rate).padStart(7)} pairs/s\n`);
      }
    }
    const medianOf = (c: Contender, field: keyof Sample) => median(samples.get(c)!.map((x) => x[field]));
    const baseline = contenders.find((c) => c.baseline)!;
    const connectRedisContender = contenders[contenders.length - 1]!;
    const baseMedian = medianOf(baseline, "rate");
    const crMedian = medianOf(connectRedisContender, "rate");
    console.log(
      table(
        ["contender", "pairs/s (median)", "min – max", "% of raw", "vs connect-redis", "node CPU µs/pair", "Redis CPU µs/pair"],
        contenders.map((c) => {
          const rates = samples.get(c)!.map((x) => x.rate);
          const m = medianOf(c, "rate");
          return [
            c.name,
            fmtInt(m),
            `${fmtInt(Math.min(...rates))} – ${fmtInt(Math.max(...rates))}`,
            c.baseline ? "100 %" : pct(m / baseMedian),
            c === connectRedisContender ? "—" : `${m >= crMedian ? "+" : ""}${((m / crMedian - 1) * 100).toFixed(0)} %`,
            medianOf(c, "nodeUs").toFixed(1),
            medianOf(c, "redisUs").toFixed(1),
          ];
        }),
      ),
    );
    const storeRows = contenders.filter((c) => c.isStore && !c.extra);
    const best = storeRows.reduce((x, y) => (medianOf(x, "rate") >= medianOf(y, "rate") ? x : y));
    const defaultSize = POOL_DEFAULTS.size;
    const defaultStore = storeRows.find((c) => c.name.endsWith(`pool size ${defaultSize}`)) ?? best;
    const verdict = (c: Contender) => {
      const rate = medianOf(c, "rate");
      return `${c.name}: ${pct(rate / baseMedian)} of raw, ${rate > crMedian ? "faster" : "slower"} than connect-redis (${fmtInt(rate)} vs ${fmtInt(crMedian)} pairs/s)`;
    };
    const cpuVs = (c: Contender, other: Contender) => {
      const change = (field: "nodeUs" | "redisUs") => {
        const d = (medianOf(c, field) / medianOf(other, field) - 1) * 100;
        return `${d >= 0 ? "+" : ""}${d.toFixed(0)} %`;
      };
      return `node ${change("nodeUs")}, Redis ${change("redisUs")}`;
    };
    console.log(
      `\nDESIGN.md target: the store ≥ 90 % of raw ioredis and faster than connect-redis.\n` +
        `  default pool size (${defaultSize}): ${verdict(defaultStore)}\n` +
        (best === defaultStore ? "" : `  best store row:        ${verdict(best)}\n`) +
        `  CPU per pair, steadier than pairs/s on a shared machine: the default store vs raw ioredis ${cpuVs(defaultStore, baseline)}; ` +
        `connect-redis vs raw ioredis ${cpuVs(connectRedisContender, baseline)}.`,
    );
    console.log(
      "A pair is get(sid) then set(sid, session): GET + SET for raw and connect-redis, HMGET + EVALSHA relsSet for the store.\n" +
        "CPU columns: process CPU time of this Node process / of redis-server (INFO cpu) per pair, less noisy than pairs/s on a shared machine.\n" +
        "* for comparison only: RelsSession.configure({ redisOptions: { url } }) has no way to turn on ioredis enableAutoPipelining for the pool.",
    );

    // ---- 2. round trips ---------------------------------------------------------------------
    heading("2. Round trips to Redis per operation (standalone; commands sent in one macrotask = 1 trip)");
    await RelsSession.close();
    RelsSession.configure({ applicationName: "bench", redisOptions: { url, namespace }, connectionPoolOptions: { size: 1 } });
    const store = RelsSession.store();
    const manager = new RelsSessionsManager({ store, applicationName: "bench" });
    const stats = new SessionStats(store);
    const touchStore = new RelsRedisStore({ client: touchClient, namespace, touchAfter: 0 });

    const app = await startApp(store, manager);
    const touchApp = await startApp(touchStore, new RelsSessionsManager({ store: touchStore, applicationName: "bench" }));
    cleanups.push({ what: "http server", run: () => app.close() }, { what: "http server", run: () => touchApp.close() });

    type Row = { operation: string; report: Measured<unknown>; budget: string; within: boolean | undefined; note?: string };
    const rows: Row[] = [];
    const row = (operation: string, report: Measured<unknown>, budget: string, max: number | undefined, note?: string) =>
      rows.push({ operation, report, budget, within: max === undefined ? undefined : report.trips <= max, ...(note ? { note } : {}) });

    // Warm every script on every connection first: ioredis sends EVAL the first time a script
    // is used on a socket, and the first request opens the pool.
    const warmUser = `warm-${randomBytes(3).toString("hex")}`;
    for (const target of [app, touchApp]) {
      const cookie = await target.login(warmUser);
      await target.request("GET", "/tracked", cookie);
      await target.request("POST", "/write", cookie);
      await target.request("POST", "/logout", cookie);
    }
    await manager.activeSessions(warmUser);
    await stats.totals();
    await manager.logoutAllSessions(warmUser);

    // test/support/round-trips.ts counts per client: the pool's one connection (size 1) and
    // the touch store's own client.
    const poolClient = await store.source.run(async (c) => c);
    if (!(poolClient instanceof Redis)) throw new Error("expected a standalone ioredis client in the pool");
    const counter = countRoundTrips(poolClient);
    const touchCounter = countRoundTrips(touchClient);
    cleanups.push({ what: "round-trip counter", run: async () => counter.restore() }, { what: "round-trip counter", run: async () => touchCounter.restore() });
    const measure = <T>(operation: () => Promise<T>) => measureOn(counter, operation);

    const user = `user-${randomBytes(3).toString("hex")}`;
    const login = await measure(() => app.login(user));
    const cookie = login.value;
    row("sign-in request (regenerate + recordAuthenticatedRequest + save)", login, "—", undefined, "relsDestroy: express-session regenerate() destroys the new, never-saved id; relsSet also indexes and counts the session");
    row("request, unchanged session (get + touch within touchAfter)", await measure(() => app.request("GET", "/noop", cookie)), "1", 1);
    const tracked = await measure(() => app.request("GET", "/tracked", cookie));
    row("… same, through trackSessions (recordAuthenticatedRequest, nothing changed)", tracked, "1 (0 extra)", 1);
    const lastRequest = app.lastRequest;
    if (!lastRequest) throw new Error("the tracked request did not reach its route");
    const recordOnly = await measure(() => manager.recordAuthenticatedRequest(user, lastRequest));
    row("recordAuthenticatedRequest alone, nothing changed", recordOnly, "0 extra", 0);
    row("request that modifies the session (get + set)", await measure(() => app.request("POST", "/write", cookie)), "2", 2);
    const touchCookie = await touchApp.login(user);
    row("request, unchanged, touch due (store with touchAfter: 0)", await measureOn(touchCounter, () => touchApp.request("GET", "/noop", touchCookie)), "1 (throttled or folded)", undefined, "informative: how often this happens is set by touchAfter");

    // Destroy a signed-in session directly.
    const doomedSid = newSid();
    await store.set(doomedSid, await recordFor(manager, user, doomedSid));
    row("store.destroy(sid), signed-in session", await measure(() => store.destroy(doomedSid)), "— (none set)", undefined, "index and stats cascade in the same script");

    // A user with many sessions, created as the manager records them.
    const heavyUser = `heavy-${randomBytes(3).toString("hex")}`;
    const heavySids = newSids(OPTIONS.sessions);
    await seedInChunks(heavySids, async (sid) => store.set(sid, await recordFor(manager, heavyUser, sid)));
    const listed = await measure(() => manager.activeSessions(heavyUser));
    row(`activeSessions(user), ${fmtInt(OPTIONS.sessions)} sessions`, listed, "≤ 2", 2, `listed ${fmtInt(listed.value.length)}`);
    const totals = await measure(() => stats.totals());
    row(`new SessionStats(store).totals(), ${fmtInt(totals.value.totalSessions)} sessions`, totals, "1", 1);
    const loggedOut = await measure(() => manager.logoutAllSessions(heavyUser));
    row(`logoutAllSessions(user), ${fmtInt(OPTIONS.sessions)} sessions`, loggedOut, "≤ 2", 2, `revoked ${fmtInt(loggedOut.value)}`);
    const after = await stats.totals();
    const afterList = await manager.activeSessions(heavyUser);
    if (afterList.length !== 0) console.warn(`warning: ${afterList.length} sessions still listed after logoutAllSessions`);
    counter.restore();
    touchCounter.restore();

    console.log(
      table(
        ["operation", "trips", "cmds", "ms", "budget", "ok", "commands sent, in order"],
        rows.map((r) => [
          r.operation,
          String(r.report.trips),
          String(r.report.commands.length),
          fmtMs(r.report.ms),
          r.budget,
          r.within === undefined ? "" : r.within ? "yes" : "NO",
          summarise(r.report.commands) + (r.note ? `   [${r.note}]` : ""),
        ]),
        [0, 4, 5, 6],
      ),
    );
    console.log(`(stats after logout: ${fmtInt(after.totalSessions)} signed-in sessions left in the namespace)`);

    // ---- 3. latency ---------------------------------------------------------------------------
    heading(`3. Latency of one get at concurrency 1 (${fmtInt(OPTIONS.latency)} samples each, alternating)`);
    await RelsSession.close();
    RelsSession.configure({ applicationName: "bench", redisOptions: { url, namespace } });
    const latencyStore = RelsSession.store();
    const latencySid = sids[0]!;
    const rawKey = `${namespace}:raw:${latencySid}`;
    const getters: Array<{ name: string; get: () => Promise<unknown> }> = [
      { name: "raw ioredis GET + JSON.parse", get: async () => JSON.parse((await raw.get(rawKey))!) as unknown },
      { name: `RelsSession.store().get (default pool, size ${RelsSession.config.connectionPoolOptions.size})`, get: () => latencyStore.get(latencySid) },
      { name: "RelsRedisStore({ client }).get", get: () => clientStore.get(latencySid) },
      { name: "connect-redis 9 get", get: () => connectRedis.get(latencySid) },
    ];
    for (const g of getters) for (let i = 0; i < 200; i++) await g.get();
    const latencies = getters.map(() => [] as number[]);
    for (let i = 0; i < OPTIONS.latency; i++) {
      for (let j = 0; j < getters.length; j++) {
        const t = performance.now();
        const value = await getters[j]!.get();
        latencies[j]!.push(performance.now() - t);
        if (!value) throw new Error(`${getters[j]!.name}: no session`);
      }
    }
    const rawP50 = percentile([...latencies[0]!].sort((a, b) => a - b), 50);
    console.log(
      table(
        ["get", "p50 ms", "p99 ms", "mean ms", "p50 vs raw"],
        getters.map((g, j) => {
          const xs = [...latencies[j]!].sort((a, b) => a - b);
          const p50 = percentile(xs, 50);
          return [g.name, fmtMs(p50), fmtMs(percentile(xs, 99)), fmtMs(xs.reduce((a, b) => a + b, 0) / xs.length), j === 0 ? "—" : `+${fmtMs(p50 - rawP50)} ms`];
        }),
      ),
    );

    console.log(`\ntotal run time ${((performance.now() - startedAt) / 1000).toFixed(1)} s; load average now ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup.run().catch((error: unknown) => console.warn(`cleanup (${cleanup.what}) failed: ${String(error)}`));
    }
    if (redis?.source === "env") await deleteNamespace(redis.url, namespace);
    await redis?.stop();
  }
}

interface Measured<T> {
  /** Wall time of the operation itself, in ms. */
  readonly ms: number;
  readonly trips: number;
  readonly commands: readonly string[];
  readonly value: T;
}

/** Round trips and commands of one operation on one counted client. */
async function measureOn<T>(counter: RoundTripCounter, operation: () => Promise<T>): Promise<Measured<T>> {
  counter.reset();
  const started = performance.now();
  const value = await operation();
  const ms = performance.now() - started;
  // A fire-and-forget follow-up sent just after the operation resolves costs as much.
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { ms, trips: counter.roundTrips, commands: counter.commands, value };
}

/** `["relsIndexRange", "hmget", "hmget", "pttl", "pttl"]` → `"relsIndexRange, hmget×2, pttl×2"` (first-seen order). */
function summarise(commands: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const name of commands) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([name, n]) => (n === 1 ? name : `${name}×${n}`)).join(", ");
}

/** REDIS_URL is not ours: remove exactly the keys this run wrote (its random namespace), nothing else. */
async function deleteNamespace(url: string, namespace: string): Promise<void> {
  const client = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${namespace}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    await client.quit();
  }
}

// ---------------------------------------------------------------------------------------------
// Signed-in sessions, as the manager records them
// ---------------------------------------------------------------------------------------------

function freshSession(): SessionData & Record<string, unknown> {
  return {
    cookie: { originalMaxAge: SESSION_MAX_AGE_MS, expires: new Date(Date.now() + SESSION_MAX_AGE_MS), httpOnly: true, path: "/" },
    views: 0,
  } as unknown as SessionData & Record<string, unknown>;
}

const BENCH_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";

/** A session carrying `_rels` exactly as `recordAuthenticatedRequest` builds it on sign-in. */
async function recordFor(manager: RelsSessionsManager, user: string, sid: string): Promise<SessionData> {
  const sess = freshSession();
  const req = { session: sess, sessionID: sid, ip: "203.0.113.7", headers: { "user-agent": BENCH_UA } };
  await manager.recordAuthenticatedRequest(user, req as unknown as SessionRequest, {
    expiresAfter: SESSION_MAX_AGE_MS,
  });
  return sess;
}

// ---------------------------------------------------------------------------------------------
// An Express app, so request rows go through express-session exactly as in production
// ---------------------------------------------------------------------------------------------

type SessionRequest = Parameters<RelsSessionsManager["recordAuthenticatedRequest"]>[1];

interface BenchApp {
  login(user: string): Promise<string>;
  request(method: "GET" | "POST", path: string, cookie: string): Promise<string>;
  /** What the manager reads of the last request that reached a route (its session, sid, ip, headers). */
  readonly lastRequest: SessionRequest | undefined;
  close(): Promise<void>;
}

async function startApp(store: RelsRedisStore, manager: RelsSessionsManager): Promise<BenchApp> {
  const app = express();
  let lastRequest: SessionRequest | undefined;
  app.use(
    session({
      store,
      secret: "bench-secret-not-a-secret",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: SESSION_MAX_AGE_MS, httpOnly: true },
    }),
  );
  const fields = (req: Request) => req.session as unknown as Record<string, unknown>;
  const remember = (req: Request) => {
    lastRequest = { session: req.session, sessionID: req.sessionID, ip: req.ip, headers: { ...req.headers } } as SessionRequest;
  };
  app.post("/login/:user", (req: Request, res: Response, next: NextFunction) => {
    req.session.regenerate((error: unknown) => {
      if (error) return next(error);
      const user = String(req.params.user);
      fields(req).benchUser = user;
      manager.recordAuthenticatedRequest(user, req, { expiresAfter: SESSION_MAX_AGE_MS, signInAt: new Date() }).then(() => res.send("ok"), next);
    });
  });
  app.get("/noop", (req: Request, res: Response) => {
    remember(req);
    res.send("ok");
  });
  const track = manager.trackSessions({ getUser: (req) => (fields(req).benchUser as string | undefined) ?? null });
  app.get("/tracked", track, (req: Request, res: Response) => {
    remember(req);
    res.send("ok");
  });
  app.post("/write", (req: Request, res: Response) => {
    fields(req).views = Number(fields(req).views ?? 0) + 1;
    remember(req);
    res.send("ok");
  });
  app.post("/logout", (req: Request, res: Response, next: NextFunction) => {
    req.session.destroy((error: unknown) => (error ? next(error) : res.send("ok")));
  });

  const server: Server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const request = async (method: "GET" | "POST", path: string, cookie: string) => {
    const res = await fetch(base + path, { method, headers: cookie ? { cookie, "user-agent": BENCH_UA } : { "user-agent": BENCH_UA } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${path}: HTTP ${res.status} ${body.slice(0, 200)}`);
    return res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ") || cookie;
  };
  return {
    login: (user) => request("POST", `/login/${encodeURIComponent(user)}`, ""),
    request,
    get lastRequest() {
      return lastRequest;
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
