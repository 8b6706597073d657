import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { RelsSession } from "../rels-session.js";
import type { SessionStoreConfigInput } from "../config.js";

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
}

interface GlobalOptions {
  url?: string;
  cluster?: string;
  sentinel?: string;
  name?: string;
  namespace: string;
  app: string;
  json?: boolean;
}

function hostPorts(value: string): Array<{ host: string; port: number }> {
  return value.split(",").map((part) => {
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(part.trim());
    if (!match) throw new InvalidArgumentError(`expected host:port[,host:port…], got "${part}"`);
    return { host: match[1]!, port: Number(match[2]) };
  });
}

function configFrom(options: GlobalOptions, env: NodeJS.ProcessEnv): SessionStoreConfigInput {
  const redisOptions = options.cluster
    ? { cluster: { nodes: hostPorts(options.cluster) } }
    : options.sentinel
      ? { sentinel: { sentinels: hostPorts(options.sentinel), name: options.name ?? "mymaster" } }
      : { url: options.url ?? env.REDIS_URL ?? "redis://127.0.0.1:6379" };
  return { applicationName: options.app, redisOptions: { ...redisOptions, namespace: options.namespace } };
}

/** This package's version, from the package.json above this file (in src/ or in dist/). */
function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "rels-session" && pkg.version) return pkg.version;
    } catch {
      // no package.json here: keep walking up
    }
  }
  return "unknown";
}

/**
 * The operators' CLI: counts, a user's sessions, revocation, a full dump, and the stats
 * rebuild, against the same Redis and namespace as the apps.
 */
export function buildProgram(io: CliIo): Command {
  const program = new Command("rels-session")
    .description("Inspect and manage rels-session sessions in Redis")
    .version(packageVersion())
    .option("--url <url>", "Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379)")
    .option("--cluster <nodes>", "Redis Cluster nodes, host:port[,host:port…]")
    .option("--sentinel <sentinels>", "Sentinels, host:port[,host:port…] (with --name)")
    .option("--name <name>", "Sentinel master group name", "mymaster")
    .option("--namespace <ns>", "key namespace of the apps", "rels:session")
    .option("--app <name>", "application name recorded by writes from the CLI", "rels-session-cli")
    .option("--json", "print JSON instead of text")
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  const connected = async <T>(work: () => Promise<T>): Promise<T> => {
    RelsSession.configure(configFrom(program.opts<GlobalOptions>(), io.env), { env: io.env });
    try {
      return await work();
    } finally {
      await RelsSession.close();
    }
  };
  const json = () => program.opts<GlobalOptions>().json === true;
  const print = (value: unknown, text: () => string) => io.out(json() ? JSON.stringify(value) : text());

  program
    .command("stats")
    .description("live counts of signed-in sessions (one round trip)")
    .action(() =>
      connected(async () => {
        const totals = await RelsSession.stats.totals();
        print(totals, () =>
          [
            `total sessions: ${totals.totalSessions}`,
            `last updated:   ${totals.lastUpdatedAt?.toISOString() ?? "never"}`,
            ...Object.entries(totals.byApplication).map(([app, n]) => `app ${app}: ${n}`),
            ...Object.entries(totals.byPlatform).map(([platform, n]) => `platform ${platform}: ${n}`),
          ].join("\n"),
        );
      }),
    );

  program
    .command("reconcile")
    .description("rescan every session and rebuild the counters")
    .action(() =>
      connected(async () => {
        const totals = await RelsSession.reconcileStats({ onProgress: (n) => io.err(`scanned ${n} sessions`) });
        print(totals, () => `total sessions after reconcile: ${totals.totalSessions}`);
      }),
    );

  program
    .command("count")
    .description("number of session keys, signed in or not (SCAN over every master)")
    .action(() =>
      connected(async () => {
        const n = await RelsSession.store().length();
        print({ sessions: n }, () => String(n));
      }),
    );

  program
    .command("list")
    .description("a user's active sessions, most recently seen first")
    .argument("<user-id>")
    .action((userId: string) =>
      connected(async () => {
        const sessions = await RelsSession.manager().activeSessions(userId);
        if (json()) return io.out(JSON.stringify(sessions));
        if (sessions.length === 0) return io.out(`no active sessions for user ${JSON.stringify(userId)}`);
        for (const s of sessions) {
          io.out(
            [s.sessionId, s.clientPlatform, s.applicationName, s.ip ?? "-", s.lastSeenAt.toISOString(), s.userAgent ?? "-"].join("\t"),
          );
        }
      }),
    );

  program
    .command("revoke")
    .description("revoke sessions of a user: the handles given, or --all")
    .argument("<user-id>")
    .argument("[handles...]", "session handles, as `list` prints them")
    .option("--all", "revoke every session of the user")
    .action((userId: string, handles: string[], options: { all?: boolean }) =>
      connected(async () => {
        if (!options.all && handles.length === 0) program.error("revoke: give session handles, or --all", { exitCode: 2 });
        const manager = RelsSession.manager();
        const revoked = options.all ? await manager.logoutAllSessions(userId) : await manager.logoutSessions(userId, handles);
        print({ revoked }, () => `revoked ${revoked} session(s)`);
      }),
    );

  program
    .command("dump")
    .description("every signed-in session's metadata as JSON lines, streamed in batches")
    .option("--batch <n>", "SCAN batch size", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
      return n;
    })
    .action((options: { batch?: number }) =>
      connected(async () => {
        const stream = RelsSession.streamSessions(options.batch === undefined ? {} : { batchSize: options.batch });
        for await (const meta of stream) io.out(JSON.stringify(meta));
      }),
    );

  return program;
}

/** Run the CLI; resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") return 0;
    if (typeof code === "string" && code.startsWith("commander.")) return 2;
    io.err(`rels-session: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
