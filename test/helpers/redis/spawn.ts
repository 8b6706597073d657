/**
 * Spawning one redis-server (plain, cluster node or sentinel) in its own temp dir, persistence
 * off, its output in `<dir>/redis.log`, ready once this very process (checked by pid) answers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addr, parseInfo, redisCall } from "./client.js";
import { isPortFree, freePort } from "./ports.js";
import {
  forgetDir,
  hasExited,
  hookProcessExit,
  redisServerBinary,
  terminate,
  trackChild,
  trackDir,
} from "./processes.js";
import { HOST, type SpawnedRedis } from "./types.js";
import { GiveUp, logTail, waitUntil } from "./wait.js";

/** A private redis-server on a free 127.0.0.1 port (or `port`), persistence off; `args` go on its command line. */
export function spawnRedisServer(options: { port?: number; args?: string[] } = {}): Promise<SpawnedRedis> {
  return spawnServer({ label: "redis", conf: [], args: options.args ?? [] }, options.port);
}

export interface ServerSpec {
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

export async function spawnServer(spec: ServerSpec, requestedPort?: number): Promise<SpawnedRedis> {
  const dir = await mkdtemp(join(tmpdir(), `rels-${spec.label}-`));
  trackDir(dir);
  const confFile = join(dir, spec.sentinel ? "sentinel.conf" : "redis.conf");
  const argv = [confFile, ...spec.args, ...(spec.sentinel ? ["--sentinel"] : [])];
  // Someone may take the port between our probe and redis' bind(); then try another one.
  const attempts = requestedPort === undefined ? 5 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = requestedPort ?? (await freePort(spec.needsBusPort ?? false));
    const logFile = join(dir, "redis.log");
    const files: ServerFiles = {
      label: spec.label,
      port,
      dir,
      confFile,
      logFile,
      argv,
      needsBusPort: spec.needsBusPort ?? false,
    };
    await writeFile(confFile, [...baseConf(port, dir), ...spec.conf, ""].join("\n"));
    try {
      return serverHandle(files, await startProcess(files, "fresh log"));
    } catch (err) {
      const log = await readFile(logFile, "utf8").catch(() => "");
      const portTaken = err instanceof PortTaken || /Address already in use/i.test(log);
      if (attempt < attempts && portTaken) continue;
      await rm(dir, { recursive: true, force: true });
      forgetDir(dir);
      throw err;
    }
  }
}

class PortTaken extends Error {}

/** Start redis-server and resolve once *this* process (checked by pid) answers INFO. */
async function startProcess(
  files: ServerFiles,
  logMode: "fresh log" | "append to log",
): Promise<ChildProcess> {
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
  trackChild(child);
  child.unref(); // a forgotten server must not keep the process alive; the exit hook kills it
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));

  const endpoint = { host: HOST, port: files.port };
  try {
    await waitUntil(
      `redis-server (${files.label}) on ${addr(endpoint)} to start`,
      async () => {
        if (spawnError) throw new GiveUp(`could not spawn redis-server: ${spawnError.message}`);
        if (hasExited(child))
          throw new GiveUp(
            `redis-server exited (${String(child.exitCode ?? child.signalCode)}) before answering`,
          );
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
      forgetDir(files.dir);
    },
  };
}

/** Spawn n servers in parallel; if any fails, dispose the others and rethrow. */
export async function spawnAll(n: number, spawnOne: () => Promise<SpawnedRedis>): Promise<SpawnedRedis[]> {
  const results = await Promise.allSettled(Array.from({ length: n }, spawnOne));
  const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    await disposeAll(ok);
    throw failed.reason;
  }
  return ok;
}

export async function disposeAll(servers: SpawnedRedis[]): Promise<void> {
  await Promise.all(servers.map((s) => s.dispose()));
}
