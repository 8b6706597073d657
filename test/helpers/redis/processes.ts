/**
 * Process bookkeeping: nothing we spawn may outlive us. Also where the redis-server and
 * redis-cli binaries are found and run.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, rmSync } from "node:fs";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

export const HOW_TO_GET_REDIS =
  "Install redis-server so it is on PATH (e.g. `apt-get install redis-server` or `brew install redis`), " +
  "or set REDIS_URL=redis://host:port to use an existing server (tests never flush it), " +
  "or start a Docker engine so Testcontainers can run redis:7-alpine.";

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooked = false;

function killLeftovers(): void {
  for (const child of liveChildren) child.kill("SIGKILL");
  liveChildren.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

export function hookProcessExit(): void {
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

/** Killed with SIGKILL on process exit unless it exits first. */
export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
}

/** Removed on process exit unless `forgetDir` is called first (after removing it ourselves). */
export function trackDir(dir: string): void {
  liveDirs.add(dir);
}

export function forgetDir(dir: string): void {
  liveDirs.delete(dir);
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Signal the child and wait for it to exit; SIGKILL if a graceful stop hangs. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
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

let redisServerPath: string | undefined;
export function redisServerBinary(): string {
  redisServerPath ??= findOnPath("redis-server");
  if (!redisServerPath) throw new Error(`redis-server is not on PATH. ${HOW_TO_GET_REDIS}`);
  return redisServerPath;
}

export function findOnPath(command: string): string | undefined {
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

export async function runRedisCli(args: string[]): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)("redis-cli", args, { timeout: 60_000 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`redis-cli ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}
