import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { RelsSession } from "../rels-session.js";
import { recordsOf } from "../record/of-store.js";
import { describeSession } from "../users/describe.js";
import { ConfigError, RedisConnectionError } from "../errors.js";
import { configFromFlags, databaseNumber, type ConnectionFlags } from "./connection.js";
import { CliFailure, EXIT, exitCodeOf } from "./exit-codes.js";
import { countSessions, keyspaceSize, namespaceHasData, otherNamespaces } from "./keyspace.js";
import { ProgressLine, type ProgressSink } from "./progress.js";

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** stderr for the progress line; without it there is no progress. */
  progress?: ProgressSink;
}

interface GlobalOptions extends ConnectionFlags {
  json?: boolean;
  progress?: boolean;
}

/** This package's version, from the package.json above this file (in src/ or in dist/). */
function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "rels-session" && pkg.version) return pkg.version;
    } catch {
      // no package.json here: keep walking up
    }
  }
  return "unknown";
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

const when = (date: Date | undefined) => date?.toISOString() ?? "-";

const EXIT_CODES_HELP = `
Exit codes:
  0  done
  1  the command failed (e.g. revoke matched no session)
  2  usage: bad flags or arguments, invalid settings
  3  Redis unreachable (refused, unknown host, TLS, authentication, database refused, timeout)`;

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
    .option("--namespace <ns>", "key namespace of the apps (their redisOptions.namespace)", "rels:session")
    .option("--tls-ca <file>", "PEM file of the CA to trust (a private CA); turns TLS on")
    .option("--tls-cert <file>", "PEM client certificate; turns TLS on")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--tls-servername <host>", "host name the server certificate must name (SNI)")
    .option("--tls-insecure", "accept any server certificate (tests only)")
    .option("--username <user>", "ACL user name")
    .option("--password <password>", "AUTH password (prefer $REDIS_PASSWORD: flags show in ps)")
    .option("--db <n>", "database number", databaseNumber)
    .option("--json", "print JSON instead of text; errors as JSON on stderr")
    .option("--progress", "show progress on stderr even when it is not a terminal")
    .addHelpText("after", EXIT_CODES_HELP)
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      // Under --json, runCli prints usage errors as JSON instead.
      outputError: (s, write) => {
        if (!json()) write(s);
      },
    })
    .exitOverride();

  const opts = () => program.opts<GlobalOptions>();
  const json = () => opts().json === true;
  const print = (value: unknown, text: () => string) => io.out(json() ? JSON.stringify(value) : text());
  /** A progress line on a terminal, or anywhere with --progress; never under --json off a terminal. */
  const progress = (label: string) => {
    const sink = io.progress;
    return new ProgressLine(sink && (sink.isTTY || opts().progress === true) ? sink : undefined, label);
  };

  const connected = async <T>(work: () => Promise<T>): Promise<T> => {
    // The CLI reports a Redis failure itself (one line, or one JSON object under --json).
    RelsSession.configure(configFromFlags(opts(), io.env), { env: io.env, outageWarnings: false });
    try {
      return await work();
    } finally {
      await RelsSession.close();
    }
  };

  /** Found nothing: if the namespace is empty but another holds sessions, the user likely mistyped it. */
  const hintIfElsewhere = async () => {
    const store = RelsSession.store();
    if (await namespaceHasData(store)) return;
    const others = await otherNamespaces(store);
    if (others.length === 0) return;
    const notice = `namespace "${recordsOf(store).keys.namespace}" holds no sessions; sessions exist under ${others.map((n) => `"${n}"`).join(", ")} (use --namespace ${others[0]})`;
    io.err(json() ? JSON.stringify({ notice, namespaces: others }) : `note: ${notice}`);
  };

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
        if (totals.totalSessions === 0) await hintIfElsewhere();
      }),
    );

  program
    .command("reconcile")
    .description("rescan every session and rebuild the counters")
    .action(() =>
      connected(async () => {
        const line = progress("reconcile");
        line.total = await keyspaceSize(RelsSession.store());
        let scanned = 0;
        const totals = await RelsSession.reconcileStats({
          onProgress: (n) => {
            scanned = n;
            line.update(n);
          },
        });
        line.done(scanned);
        print(totals, () => `total sessions after reconcile: ${totals.totalSessions}`);
        if (scanned === 0) await hintIfElsewhere();
      }),
    );

  program
    .command("count")
    .description("number of session keys, signed in or not (SCAN over every master)")
    .action(() =>
      connected(async () => {
        const store = RelsSession.store();
        const line = progress("count");
        line.total = await keyspaceSize(store);
        const n = await countSessions(store, (found, examined) => line.update(found, examined));
        line.done(n);
        print({ sessions: n }, () => String(n));
        if (n === 0) await hintIfElsewhere();
      }),
    );

  program
    .command("list")
    .description("a user's active sessions, most recently seen first, each with its device label")
    .argument("<user-id>")
    .action((userId: string) =>
      connected(async () => {
        // Each session with the label the account page shows ("Safari on iPhone").
        const sessions = (await RelsSession.manager().activeSessions(userId)).map((s) => ({
          ...s,
          label: describeSession(s),
        }));
        if (json()) io.out(JSON.stringify(sessions));
        else if (sessions.length === 0) io.out(`no active sessions for user ${JSON.stringify(userId)}`);
        else {
          io.out(
            [
              "HANDLE",
              "DEVICE",
              "PLATFORM",
              "APP",
              "IP",
              "SIGNED IN",
              "LAST SEEN",
              "EXPIRES",
              "USER AGENT",
            ].join("\t"),
          );
          for (const s of sessions) {
            io.out(
              [
                s.sessionId,
                s.label,
                s.clientPlatform,
                s.applicationName || "-",
                s.ip ?? "-",
                when(s.signInAt),
                when(s.lastSeenAt),
                when(s.expiresAt),
                s.userAgent ?? "-",
              ].join("\t"),
            );
          }
        }
        if (sessions.length === 0) await hintIfElsewhere();
      }),
    );

  program
    .command("revoke")
    .description("revoke sessions of a user: the handles given, or --all (exit 1 if any matched nothing)")
    .argument("<user-id>")
    .argument("[handles...]", "session handles, as `list` prints them")
    .option("--all", "revoke every session of the user")
    .action((userId: string, handles: string[], options: { all?: boolean }) => {
      if (!options.all && handles.length === 0)
        program.error("revoke: give session handles, or --all", { exitCode: EXIT.usage });
      return connected(async () => {
        const manager = RelsSession.manager();
        const revoked = await manager.revokeAsOperator(userId, options.all ? "all" : handles);
        const asked = options.all ? undefined : new Set(handles).size;
        if (revoked === 0 || (asked !== undefined && revoked < asked)) {
          const unmatched =
            asked === undefined
              ? ""
              : `; ${asked - revoked} of ${asked} handle(s) matched no session of this user`;
          if (json()) io.out(JSON.stringify({ revoked }));
          throw new CliFailure(
            revoked === 0 && asked === undefined
              ? `revoke: user ${JSON.stringify(userId)} has no sessions; nothing revoked`
              : `revoke: revoked ${revoked} session(s) of user ${JSON.stringify(userId)}${unmatched}`,
          );
        }
        print({ revoked }, () => `revoked ${revoked} session(s)`);
      });
    });

  program
    .command("dump")
    .description("every signed-in session's metadata as JSON lines, streamed in batches")
    .option("--batch <n>", "SCAN batch size", positiveInteger)
    .action((options: { batch?: number }) =>
      connected(async () => {
        const stream = RelsSession.streamSessions(
          options.batch === undefined ? {} : { batchSize: options.batch },
        );
        let n = 0;
        for await (const meta of stream) {
          io.out(JSON.stringify(meta));
          n++;
        }
        if (n === 0) await hintIfElsewhere();
      }),
    );

  return program;
}

/** An error as the CLI prints it: text, or under --json one JSON object (no stack, no secrets). */
function describeError(error: unknown, code: number, json: boolean): string {
  const message = error instanceof Error ? error.message : String(error);
  if (!json) return `rels-session: ${message.replace(/^error: /, "")}`;
  const body: Record<string, unknown> = {
    name: error instanceof Error ? error.name : "Error",
    message: message.replace(/^error: /, ""),
    exitCode: code,
  };
  if (error instanceof RedisConnectionError)
    Object.assign(body, { address: error.address, reason: error.reason });
  if (error instanceof ConfigError) body.issues = error.issues;
  return JSON.stringify({ error: body });
}

/** Run the CLI; resolves to the exit code (see EXIT). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (error) {
    const code = exitCodeOf(error);
    if (code === EXIT.ok) return code;
    const json = argv.includes("--json");
    // Commander has printed its own usage error already, unless under --json.
    const printed =
      !json &&
      typeof (error as { code?: unknown }).code === "string" &&
      (error as { code: string }).code.startsWith("commander.");
    if (!printed) io.err(describeError(error, code, json));
    return code;
  }
}
