/**
 * The one place that provisions Redis for tests, the demo and the benchmark.
 *
 * Order of preference (see DESIGN.md, "Redis for tests and for the demo"):
 *   REDIS_URL → a private redis-server from PATH → Testcontainers → a clear error.
 * Cluster and Sentinel topologies are always spawned from the redis-server binary.
 *
 * Ground rules this file keeps:
 * - everything binds to 127.0.0.1, on ports the OS says are free;
 * - every server lives in its own temp dir with persistence off (`save ""`, `appendonly no`);
 *   its stdout/stderr go to `<dir>/redis.log`, whose tail is put into every startup error;
 * - readiness is polled (INFO / CLUSTER INFO / SENTINEL ...) against a deadline, never slept for;
 * - every child is killed on dispose, and SIGKILLed on process exit if someone forgot;
 * - we never flush or stop a server we did not spawn.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { accessSync, closeSync, constants as fsConstants, openSync, rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface ProvidedRedis {
  url: string;
  source: "env" | "spawned" | "container";
  /** Stops what provideRedis started; a no-op for REDIS_URL (not ours). */
  stop(): Promise<void>;
}

export interface SpawnedRedis extends RedisEndpoint {
  url: string;
  /** Temp dir holding the config, `redis.log` and (for cluster nodes) `nodes.conf`. */
  dir: string;
  /** stop the process (SIGTERM = SHUTDOWN NOSAVE here, wait for exit); keeps dir and port for restart() */
  stop(): Promise<void>;
  /** start again on the same port (with the same config), resolve when it answers */
  restart(): Promise<void>;
  /** SIGKILL, for crash tests */
  kill(): Promise<void>;
  /** stop + remove the temp dir; safe to call twice */
  dispose(): Promise<void>;
}

export interface RedisClusterHandle {
  /** every node (masters and replicas) */
  nodes: RedisEndpoint[];
  /** current masters (serving slots, not failed), asked from the cluster, ordered by their lowest slot */
  masters(): Promise<RedisEndpoint[]>;
  /** CLUSTER FAILOVER on a replica of the master serving `key` (or of the first master); resolves once
   *  that replica is master, every reachable node maps the slot to it and reports cluster_state:ok */
  failover(key?: string): Promise<void>;
  dispose(): Promise<void>;
}

export interface RedisSentinelHandle {
  /** master group name */
  name: string;
  sentinels: RedisEndpoint[];
  /** asked from a sentinel (SENTINEL get-master-addr-by-name) */
  master(): Promise<RedisEndpoint>;
  /**
   * SENTINEL FAILOVER; resolves when all reachable sentinels report the new master and it answers
   * ROLE master, and the old master (if up) has been demoted to its in-sync replica, with its
   * clients disconnected, as Sentinel itself would do ~10 s later.
   */
  failover(): Promise<void>;
  dispose(): Promise<void>;
}

const HOW_TO_GET_REDIS =
  "Install redis-server so it is on PATH (e.g. `apt-get install redis-server` or `brew install redis`), " +
  "or set REDIS_URL=redis://host:port to use an existing server (tests never flush it), " +
  "or start a Docker engine so Testcontainers can run redis:7-alpine.";

/** REDIS_URL if set → private redis-server from PATH → Testcontainers (if Docker answers) → Error. */
export async function provideRedis(): Promise<ProvidedRedis> {
  const fromEnv = process.env.REDIS_URL?.trim();
  if (fromEnv) {
    // Not ours: never stop, flush or otherwise touch it beyond what tests do with their own keys.
    return { url: fromEnv, source: "env", stop: async () => {} };
  }
  if (findOnPath("redis-server")) {
    const server = await spawnRedisServer();
    return { url: server.url, source: "spawned", stop: () => server.dispose() };
  }
  const container = await startContainer();
  if (container) return container;
  throw new Error(`No Redis available: REDIS_URL is not set, redis-server is not on PATH and no Docker engine answers. ${HOW_TO_GET_REDIS}`);
}

/** A private redis-server on a free 127.0.0.1 port (or `port`), persistence off; `args` go on its command line. */
export function spawnRedisServer(options: { port?: number; args?: string[] } = {}): Promise<SpawnedRedis> {
  return spawnServer({ label: "redis", conf: [], args: options.args ?? [] }, options.port);
}

/** `masters` (≥3, default 3) masters with `replicasPerMaster` (default 1) replicas each, created with redis-cli --cluster create. */
export async function startRedisCluster(
  options: { masters?: number; replicasPerMaster?: number } = {},
): Promise<RedisClusterHandle> {
  const masterCount = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  if (masterCount < 3) throw new Error("startRedisCluster: redis-cli --cluster create needs at least 3 masters");

  const servers = await spawnAll(masterCount * (1 + replicasPerMaster), () =>
    spawnServer({
      label: "cluster",
      needsBusPort: true,
      args: [],
      conf: [
        "cluster-enabled yes",
        "cluster-config-file nodes.conf", // relative to the node's own dir
        // Low enough that a crash test (kill() a master) sees an automatic failover within seconds,
        // high enough that a busy 2-core CI box does not flag healthy nodes as failing.
        "cluster-node-timeout 3000",
      ],
    }),
  );
  const nodes = servers.map(endpointOf);
  const diagnostics = () => logTails(servers, 8);
  try {
    await runRedisCli([
      "--cluster", "create", ...nodes.map(addr),
      "--cluster-replicas", String(replicasPerMaster),
      "--cluster-yes",
    ]);
    await waitUntil(
      "the cluster to be ready",
      async () => {
        const problem = await clusterProblem(nodes, nodes.length, masterCount);
        return problem === true ? topologyProblem(nodes, masterCount) : problem;
      },
      { timeoutMs: 60_000, diagnostics },
    );
  } catch (err) {
    await disposeAll(servers);
    throw err;
  }

  return {
    nodes,
    async masters() {
      const { view } = await clusterView(nodes);
      return servingMasters(view).map((n) => n.endpoint);
    },
    async failover(key) {
      const { via, view } = await clusterView(nodes);
      const slot = key === undefined ? undefined : Number(await redisCall(via, "CLUSTER", "KEYSLOT", key));
      const master = slot === undefined ? servingMasters(view)[0] : view.find((n) => n.flags.includes("master") && servesSlot(n, slot));
      if (!master) throw new Error(`failover: no master found${slot === undefined ? "" : ` for slot ${slot}`}`);
      const targetSlot = slot ?? master.slots[0]?.[0] ?? 0;
      const replica = view.find((n) => n.masterId === master.id && !n.flags.includes("fail"));
      if (!replica) throw new Error(`failover: ${addr(master.endpoint)} has no healthy replica`);

      // Nodes a crash test has killed would only make us wait for the deadline; check the live ones.
      const live = await reachable(nodes);
      // A plain manual failover needs the old master to cooperate; if it is already down, FORCE.
      const force = master.flags.includes("fail") ? ["FORCE"] : [];
      await redisCall(replica.endpoint, "CLUSTER", "FAILOVER", ...force);

      await waitUntil(
        `${addr(replica.endpoint)} to take over slot ${targetSlot} from ${addr(master.endpoint)}`,
        async () => {
          const role = await redisCall(replica.endpoint, "ROLE");
          if (!Array.isArray(role) || role[0] !== "master") return `${addr(replica.endpoint)} is still ${String(Array.isArray(role) ? role[0] : role)}`;
          for (const node of live) {
            const owner = parseClusterNodes(String(await redisCall(node, "CLUSTER", "NODES"))).find(
              (n) => isMaster(n) && servesSlot(n, targetSlot),
            );
            if (owner?.id !== replica.id) return `${addr(node)} still maps slot ${targetSlot} to ${owner ? addr(owner.endpoint) : "nobody"}`;
          }
          return clusterProblem(live, nodes.length, masterCount);
        },
        { timeoutMs: 30_000, diagnostics },
      );
    },
    dispose: () => disposeAll(servers),
  };
}

/** 1 master + 1 replica + 3 sentinels (quorum 2, quick down-after / failover-timeout) on 127.0.0.1. */
export async function startRedisSentinel(): Promise<RedisSentinelHandle> {
  const name = "relsmaster";
  const servers: SpawnedRedis[] = []; // everything to dispose, sentinels first
  try {
    const master = await spawnServer({ label: "sentinel-master", conf: [], args: [] });
    servers.push(master);
    const replica = await spawnServer({ label: "sentinel-replica", conf: [`replicaof ${HOST} ${master.port}`], args: [] });
    servers.push(replica);
    const sentinelServers = await spawnAll(3, () =>
      spawnServer({
        label: "sentinel",
        sentinel: true,
        args: [],
        conf: [
          `sentinel monitor ${name} ${HOST} ${master.port} 2`,
          // Quick, so crash tests see an automatic failover in ~2 s; still tolerant of a loaded box.
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
        ],
      }),
    );
    servers.unshift(...sentinelServers);
    const sentinels = sentinelServers.map(endpointOf);
    await waitUntil(
      "the sentinels to know the master, the replica and each other",
      () => sentinelProblem(sentinels, name, endpointOf(replica)),
      { timeoutMs: 60_000, diagnostics: () => logTails(servers, 8) },
    );

    const handle: RedisSentinelHandle = {
      name,
      sentinels,
      master: () => sentinelMaster(sentinels, name),
      async failover() {
        const before = await handle.master();
        // NOGOODSLAVE: no sentinel sees a replica fit to promote yet (on a loaded machine its
        // view of the replica lags after a restart or a previous failover). That is readiness,
        // reported by Sentinel itself: ask again until one takes the failover.
        await waitUntil(
          "a sentinel to accept SENTINEL FAILOVER (a replica fit to promote)",
          () =>
            firstAnswer(sentinels, (s) => redisCall(s, "SENTINEL", "FAILOVER", name)).then(
              () => true,
              (err: unknown) => {
                if (/NOGOODSLAVE/.test(errorMessage(err))) return errorMessage(err);
                throw err;
              },
            ),
          { timeoutMs: 30_000, diagnostics: () => logTails(servers, 8) },
        );
        await waitUntil(
          `sentinel failover away from ${addr(before)}`,
          async () => {
            // The sentinel that ran the failover knows first; the others learn it from hello messages (every 2 s).
            const seen = new Set<string>();
            for (const s of await reachable(sentinels)) seen.add(addr(await askMasterAddr(s, name)));
            const [now] = [...seen];
            if (seen.size !== 1 || now === undefined) return `sentinels disagree: ${[...seen].join(", ")}`;
            if (now === addr(before)) return `sentinels still report ${now}`;
            const role = await redisCall(parseAddr(now), "ROLE");
            return (Array.isArray(role) && role[0] === "master") || `${now} is not master yet`;
          },
          { timeoutMs: 30_000, diagnostics: () => logTails(servers, 8) },
        );
        await demoteOldMaster(before, await handle.master(), () => logTails(servers, 8));
      },
      dispose: () => disposeAll(servers),
    };
    return handle;
  } catch (err) {
    await disposeAll(servers);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: nothing we spawn may outlive us
// ---------------------------------------------------------------------------------------------

const HOST = "127.0.0.1";
const POLL_MS = 50;

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooked = false;

function killLeftovers(): void {
  for (const child of liveChildren) child.kill("SIGKILL");
  liveChildren.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function hookProcessExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once("exit", killLeftovers);
  // 'exit' does not run when a signal kills us. If nobody else handles the signal, clean up and
  // re-raise it so the default behaviour (terminate) is kept; if someone else does, they own the
  // shutdown and the 'exit' hook above still runs.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      if (process.listenerCount(signal) > 0) return;
      killLeftovers();
      process.kill(process.pid, signal);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Spawning one redis-server (plain, cluster node or sentinel)
// ---------------------------------------------------------------------------------------------

interface ServerSpec {
  /** temp dir prefix, and the name used in errors */
  label: string;
  /** extra redis.conf lines */
  conf: string[];
  /** extra command-line arguments */
  args: string[];
  sentinel?: boolean;
  /** cluster nodes also listen on port + 10000 */
  needsBusPort?: boolean;
}

interface ServerFiles {
  label: string;
  port: number;
  dir: string;
  confFile: string;
  logFile: string;
  argv: string[];
  needsBusPort: boolean;
}

function baseConf(port: number, dir: string): string[] {
  return [
    `port ${port}`,
    `bind ${HOST}`,
    `dir "${dir}"`,
    'save ""', // test data is disposable: no RDB ...
    "appendonly no", // ... and no AOF
    "shutdown-on-sigterm nosave", // so SIGTERM is SHUTDOWN NOSAVE
    // A master waits 5 s by default before a diskless full sync, hoping more replicas show up;
    // that would be most of the cluster / sentinel startup time.
    "repl-diskless-sync-delay 0",
    'logfile ""', // log to stdout, which goes to redis.log
    "daemonize no",
  ];
}

async function spawnServer(spec: ServerSpec, requestedPort?: number): Promise<SpawnedRedis> {
  const dir = await mkdtemp(join(tmpdir(), `rels-${spec.label}-`));
  liveDirs.add(dir);
  const confFile = join(dir, spec.sentinel ? "sentinel.conf" : "redis.conf");
  const argv = [confFile, ...spec.args, ...(spec.sentinel ? ["--sentinel"] : [])];
  // Someone may take the port between our probe and redis' bind(); then try another one.
  const attempts = requestedPort === undefined ? 5 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = requestedPort ?? (await freePort(spec.needsBusPort ?? false));
    const logFile = join(dir, "redis.log");
    const files: ServerFiles = { label: spec.label, port, dir, confFile, logFile, argv, needsBusPort: spec.needsBusPort ?? false };
    await writeFile(confFile, [...baseConf(port, dir), ...spec.conf, ""].join("\n"));
    try {
      return serverHandle(files, await startProcess(files, "fresh log"));
    } catch (err) {
      const log = await readFile(logFile, "utf8").catch(() => "");
      const portTaken = err instanceof PortTaken || /Address already in use/i.test(log);
      if (attempt < attempts && portTaken) continue;
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      throw err;
    }
  }
}

class PortTaken extends Error {}

/** Start redis-server and resolve once *this* process (checked by pid) answers INFO. */
async function startProcess(files: ServerFiles, logMode: "fresh log" | "append to log"): Promise<ChildProcess> {
  hookProcessExit();
  // Check before spawning, so that while polling we never send a command to somebody else's
  // server (say the system Redis on 6379) that happens to hold the port.
  const ports = files.needsBusPort ? [files.port, files.port + 10_000] : [files.port];
  for (const port of ports) {
    if (!(await isPortFree(port))) throw new PortTaken(`${HOST}:${port} is already in use`);
  }
  const log = openSync(files.logFile, logMode === "fresh log" ? "w" : "a");
  let child: ChildProcess;
  try {
    child = spawn(redisServerBinary(), files.argv, { cwd: files.dir, stdio: ["ignore", log, log] });
  } finally {
    closeSync(log); // the child has its own copy
  }
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  child.unref(); // a forgotten server must not keep the process alive; the exit hook kills it
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));

  const endpoint = { host: HOST, port: files.port };
  try {
    await waitUntil(
      `redis-server (${files.label}) on ${addr(endpoint)} to start`,
      async () => {
        if (spawnError) throw new GiveUp(`could not spawn redis-server: ${spawnError.message}`);
        if (hasExited(child)) throw new GiveUp(`redis-server exited (${String(child.exitCode ?? child.signalCode)}) before answering`);
        // Compare pids: with a port race, a PONG could come from somebody else's server.
        const pid = parseInfo(String(await redisCall(endpoint, "INFO", "server"))).get("process_id");
        return pid === String(child.pid) || `port answered by another process (pid ${String(pid)})`;
      },
      { timeoutMs: 15_000, diagnostics: () => logTail(files.logFile, 30) },
    );
  } catch (err) {
    await terminate(child, "SIGKILL");
    throw err;
  }
  return child;
}

function serverHandle(files: ServerFiles, first: ChildProcess): SpawnedRedis {
  let child: ChildProcess | undefined = first;
  let disposed = false;
  const stopWith = async (signal: NodeJS.Signals) => {
    const running = child;
    child = undefined;
    if (running) await terminate(running, signal);
  };
  return {
    host: HOST,
    port: files.port,
    url: `redis://${HOST}:${files.port}`,
    dir: files.dir,
    stop: () => stopWith("SIGTERM"),
    kill: () => stopWith("SIGKILL"),
    async restart() {
      if (disposed) throw new Error(`restart() after dispose() (${addr({ host: HOST, port: files.port })})`);
      await stopWith("SIGTERM");
      // Same conf file: a sentinel keeps the state it rewrote there, a cluster node its nodes.conf.
      child = await startProcess(files, "append to log");
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await stopWith("SIGTERM");
      await rm(files.dir, { recursive: true, force: true });
      liveDirs.delete(files.dir);
    },
  };
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Signal the child and wait for it to exit; SIGKILL if a graceful stop hangs. */
async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  // Also keeps the event loop alive while we wait: the child itself is unref'd.
  const escalate = setTimeout(() => child.kill("SIGKILL"), 10_000);
  try {
    await exited;
  } finally {
    clearTimeout(escalate);
  }
}

/** Spawn n servers in parallel; if any fails, dispose the others and rethrow. */
async function spawnAll(n: number, spawnOne: () => Promise<SpawnedRedis>): Promise<SpawnedRedis[]> {
  const results = await Promise.allSettled(Array.from({ length: n }, spawnOne));
  const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    await disposeAll(ok);
    throw failed.reason;
  }
  return ok;
}

async function disposeAll(servers: SpawnedRedis[]): Promise<void> {
  await Promise.all(servers.map((s) => s.dispose()));
}

let redisServerPath: string | undefined;
function redisServerBinary(): string {
  redisServerPath ??= findOnPath("redis-server");
  if (!redisServerPath) throw new Error(`redis-server is not on PATH. ${HOW_TO_GET_REDIS}`);
  return redisServerPath;
}

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function runRedisCli(args: string[]): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)("redis-cli", args, { timeout: 60_000 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`redis-cli ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

async function startContainer(): Promise<ProvidedRedis | undefined> {
  const tc = await import("testcontainers").catch(() => undefined);
  if (!tc) return undefined;
  try {
    await tc.getContainerRuntimeClient(); // throws when no Docker engine answers
  } catch {
    return undefined;
  }
  const container = await new tc.GenericContainer("redis:7-alpine")
    .withCommand(["redis-server", "--save", "", "--appendonly", "no"])
    .withExposedPorts(6379)
    .withWaitStrategy(tc.Wait.forLogMessage("Ready to accept connections"))
    .start();
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    source: "container",
    stop: async () => {
      await container.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/** Ports given out by this process, so parallel spawns here never pick the same one. */
const portsHandedOut = new Set<number>();

async function freePort(withBusPort: boolean): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await osFreePort();
    const wanted = withBusPort ? [port, port + 10_000] : [port];
    if (wanted.some((p) => p > 65_535 || portsHandedOut.has(p))) continue;
    if (withBusPort && !(await isPortFree(port + 10_000))) continue;
    for (const p of wanted) portsHandedOut.add(p);
    return port;
  }
  throw new Error(`could not find a free port on ${HOST}`);
}

function osFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------------
// Talking to Redis while polling
// ---------------------------------------------------------------------------------------------

/** A fresh connection for `use`: no retries, no offline queue, so a dead node fails fast. */
async function withClient<T>(endpoint: RedisEndpoint, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  client.on("error", () => {}); // failures surface through the promises below
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

function redisCall(endpoint: RedisEndpoint, command: string, ...args: (string | number)[]): Promise<unknown> {
  return withClient(endpoint, (client) => client.call(command, ...args));
}

async function reachable(endpoints: RedisEndpoint[]): Promise<RedisEndpoint[]> {
  const alive = await Promise.all(endpoints.map((e) => redisCall(e, "PING").then(() => true, () => false)));
  return endpoints.filter((_, i) => alive[i]);
}

/** Ask endpoints in turn; return the first answer. */
async function firstAnswer<T>(endpoints: RedisEndpoint[], ask: (e: RedisEndpoint) => Promise<T>): Promise<T> {
  const errors: string[] = [];
  for (const endpoint of endpoints) {
    try {
      return await ask(endpoint);
    } catch (err) {
      errors.push(`${addr(endpoint)}: ${errorMessage(err)}`);
    }
  }
  throw new Error(`no node answered: ${errors.join("; ")}`);
}

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && !line.startsWith("#")) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** RESP2 flat [k1, v1, k2, v2, …] replies (SENTINEL MASTER/REPLICAS) as a map. */
function parsePairs(reply: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  if (!Array.isArray(reply)) return fields;
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  return fields;
}

function addr(e: RedisEndpoint): string {
  return `${e.host}:${e.port}`;
}

function parseAddr(hostPort: string): RedisEndpoint {
  const colon = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
}

function endpointOf(server: RedisEndpoint): RedisEndpoint {
  return { host: server.host, port: server.port };
}

// ---------------------------------------------------------------------------------------------
// Cluster state
// ---------------------------------------------------------------------------------------------

interface ClusterNode {
  id: string;
  endpoint: RedisEndpoint;
  flags: string[];
  /** for replicas: the id of their master */
  masterId: string | undefined;
  slots: Array<[number, number]>;
}

/** CLUSTER NODES: `<id> <ip:port@cport[,hostname]> <flags> <master|-> <ping> <pong> <epoch> <link> <slot>…` */
function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [id = "", address = "", flags = "", master = "-", , , , , ...slotFields] = line.trim().split(" ");
      const slots = slotFields
        .filter((f) => !f.startsWith("[")) // "[slot->-id]" = slot being migrated
        .map((f): [number, number] => {
          const [from = "", to = from] = f.split("-");
          return [Number(from), Number(to)];
        });
      return {
        id,
        endpoint: parseAddr(address.split("@")[0] ?? ""),
        flags: flags.split(","),
        masterId: master === "-" ? undefined : master,
        slots,
      };
    });
}

const isMaster = (n: ClusterNode) => n.flags.includes("master") && !n.flags.includes("fail");
const servesSlot = (n: ClusterNode, slot: number) => n.slots.some(([from, to]) => slot >= from && slot <= to);

function servingMasters(view: ClusterNode[]): ClusterNode[] {
  return view
    .filter((n) => isMaster(n) && n.slots.length > 0)
    .sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0));
}

async function clusterView(nodes: RedisEndpoint[]): Promise<{ via: RedisEndpoint; view: ClusterNode[] }> {
  return firstAnswer(nodes, async (via) => ({ via, view: parseClusterNodes(String(await redisCall(via, "CLUSTER", "NODES"))) }));
}

/** true when every asked node sees a healthy, complete cluster and every replica is in sync; else why not. */
async function clusterProblem(ask: RedisEndpoint[], totalNodes: number, masters: number): Promise<true | string> {
  for (const node of ask) {
    const info = parseInfo(String(await redisCall(node, "CLUSTER", "INFO")));
    const expected: Record<string, string> = {
      cluster_state: "ok",
      cluster_slots_assigned: "16384",
      cluster_known_nodes: String(totalNodes),
      cluster_size: String(masters),
    };
    for (const [field, value] of Object.entries(expected)) {
      if (info.get(field) !== value) return `${addr(node)} ${field}=${String(info.get(field))}, want ${value}`;
    }
    const problem = replicationProblem(node, parseInfo(String(await redisCall(node, "INFO", "replication"))));
    if (problem) return problem;
  }
  return true;
}

/**
 * true when every node's CLUSTER NODES shows `masters` serving masters and every other node as a
 * replica of one of them. cluster_state:ok alone is not enough: a node learns that a peer became a
 * replica through gossip, a little after the replica itself reports being in sync.
 */
async function topologyProblem(nodes: RedisEndpoint[], masters: number): Promise<true | string> {
  for (const node of nodes) {
    const view = parseClusterNodes(String(await redisCall(node, "CLUSTER", "NODES")));
    const serving = servingMasters(view);
    if (serving.length !== masters) return `${addr(node)} sees ${serving.length} serving masters`;
    const servingIds = new Set(serving.map((n) => n.id));
    const orphan = view.find((n) => !servingIds.has(n.id) && !(n.flags.includes("slave") && servingIds.has(n.masterId ?? "")));
    if (orphan) return `${addr(node)} does not see ${addr(orphan.endpoint)} as a replica yet (${orphan.flags.join(",")})`;
  }
  return true;
}

function replicationProblem(node: RedisEndpoint, replication: Map<string, string>): string | undefined {
  if (replication.get("role") !== "slave") return undefined;
  if (replication.get("master_link_status") !== "up") return `${addr(node)}: replica link is ${String(replication.get("master_link_status"))}`;
  if (replication.get("master_sync_in_progress") !== "0") return `${addr(node)}: replica still syncing`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Sentinel state
// ---------------------------------------------------------------------------------------------

async function askMasterAddr(sentinel: RedisEndpoint, name: string): Promise<RedisEndpoint> {
  const reply = await redisCall(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name);
  if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`${addr(sentinel)} does not know master ${name}`);
  return { host: String(reply[0]), port: Number(reply[1]) };
}

function sentinelMaster(sentinels: RedisEndpoint[], name: string): Promise<RedisEndpoint> {
  return firstAnswer(sentinels, (s) => askMasterAddr(s, name));
}

/**
 * Sentinel demotes a master it failed away from only ~10 s later (it waits four hello periods,
 * then for its next INFO). Until then both nodes accept writes, and clients still connected to the
 * old one write into the void. We send now exactly what Sentinel would send then, so failover()
 * leaves one master, and the old one as its in-sync replica (ready for the next failover).
 * Skipped when the old master is down (crash tests): Sentinel converts it when it comes back.
 */
async function demoteOldMaster(old: RedisEndpoint, current: RedisEndpoint, diagnostics: () => Promise<string>): Promise<void> {
  const role = await redisCall(old, "ROLE").catch(() => undefined);
  if (!Array.isArray(role) || role[0] !== "master") return;
  await withClient(old, (client) =>
    client
      .multi()
      .call("REPLICAOF", current.host, String(current.port))
      .call("CONFIG", "REWRITE")
      .call("CLIENT", "KILL", "TYPE", "normal") // SKIPME is the default: our own connection survives
      .call("CLIENT", "KILL", "TYPE", "pubsub")
      .exec(),
  );
  await waitUntil(
    `old master ${addr(old)} to sync from ${addr(current)}`,
    async () => replicationProblem(old, parseInfo(String(await redisCall(old, "INFO", "replication")))) ?? true,
    { timeoutMs: 30_000, diagnostics },
  );
}

async function sentinelProblem(sentinels: RedisEndpoint[], name: string, replica: RedisEndpoint): Promise<true | string> {
  const problem = replicationProblem(replica, parseInfo(String(await redisCall(replica, "INFO", "replication"))));
  if (problem) return problem;
  for (const sentinel of sentinels) {
    const master = parsePairs(await redisCall(sentinel, "SENTINEL", "MASTER", name));
    if (master.get("flags") !== "master") return `${addr(sentinel)} sees master flags=${String(master.get("flags"))}`;
    const others = Number(master.get("num-other-sentinels"));
    if (others < sentinels.length - 1) return `${addr(sentinel)} knows ${others} other sentinels`;
    const replicas = await redisCall(sentinel, "SENTINEL", "REPLICAS", name);
    const healthy = (Array.isArray(replicas) ? replicas : [])
      .map(parsePairs)
      .filter((r) => r.get("flags") === "slave" && r.get("master-link-status") === "ok");
    if (!healthy.some((r) => Number(r.get("port")) === replica.port)) return `${addr(sentinel)} does not see the replica yet`;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------------

/** Thrown from a check to stop waiting at once (e.g. the process died). */
class GiveUp extends Error {}

/**
 * Poll `check` every POLL_MS until it returns true. A string (or a thrown error) means "not yet,
 * because …" and ends up in the timeout message, together with `diagnostics()` (log tails).
 */
async function waitUntil(
  what: string,
  check: () => Promise<true | string>,
  options: { timeoutMs: number; diagnostics?: () => Promise<string> },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const details = async () => (options.diagnostics ? `\n${await options.diagnostics()}` : "");
  let lastReason = "no check finished";
  for (;;) {
    try {
      const result = await check();
      if (result === true) return;
      lastReason = result;
    } catch (err) {
      if (err instanceof GiveUp) throw new Error(`Waiting for ${what}: ${err.message}${await details()}`);
      lastReason = errorMessage(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(`Timed out after ${options.timeoutMs} ms waiting for ${what} (last: ${lastReason})${await details()}`);
    }
    await delay(POLL_MS);
  }
}

async function logTail(file: string, lines: number): Promise<string> {
  const text = await readFile(file, "utf8").catch((err: unknown) => `(cannot read: ${errorMessage(err)})`);
  const tail = text.trimEnd().split("\n").slice(-lines);
  return `--- last ${tail.length} lines of ${file} ---\n${tail.join("\n")}`;
}

async function logTails(servers: SpawnedRedis[], lines: number): Promise<string> {
  return (await Promise.all(servers.map((s) => logTail(join(s.dir, "redis.log"), lines)))).join("\n");
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
