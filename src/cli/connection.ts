import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "commander";
import type { SessionStoreConfigInput, TlsOptions } from "../config.js";
import { CliFailure, EXIT } from "./exit-codes.js";

/** The connection flags, as commander parses them. */
export interface ConnectionFlags {
  url?: string;
  cluster?: string;
  sentinel?: string;
  name?: string;
  namespace: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServername?: string;
  tlsInsecure?: boolean;
  username?: string;
  password?: string;
  db?: number;
}

/** The CLI's name in `applicationName`: it records no sessions, so the name is never stored. */
const CLI_APPLICATION_NAME = "rels-session-cli";

export function hostPorts(value: string): Array<{ host: string; port: number }> {
  return value.split(",").map((part) => {
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(part.trim());
    if (!match) throw new InvalidArgumentError(`expected host:port[,host:port…], got "${part}"`);
    return { host: match[1]!, port: Number(match[2]) };
  });
}

export function databaseNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError("expected a database number (0, 1, …)");
  return n;
}

/**
 * `configure()` settings from the flags. The password comes from `--password`, else
 * `REDIS_PASSWORD` (preferable: a flag shows in `ps` and shell history).
 */
export function configFromFlags(flags: ConnectionFlags, env: NodeJS.ProcessEnv): SessionStoreConfigInput {
  const target = flags.cluster
    ? { cluster: { nodes: hostPorts(flags.cluster) } }
    : flags.sentinel
      ? { sentinel: { sentinels: hostPorts(flags.sentinel), name: flags.name ?? "mymaster" } }
      : { url: flags.url ?? env.REDIS_URL ?? "redis://127.0.0.1:6379" };
  const password = flags.password ?? (env.REDIS_PASSWORD || undefined);
  const tls = tlsFromFlags(flags);
  return {
    applicationName: CLI_APPLICATION_NAME,
    redisOptions: {
      ...target,
      namespace: flags.namespace,
      ...(tls ? { tls } : {}),
      ...(flags.username === undefined ? {} : { username: flags.username }),
      ...(password === undefined ? {} : { password }),
      ...(flags.db === undefined ? {} : { db: flags.db }),
    },
  };
}

function tlsFromFlags(flags: ConnectionFlags): TlsOptions | undefined {
  const tls: TlsOptions = {};
  if (flags.tlsCa !== undefined) tls.ca = readPem("--tls-ca", flags.tlsCa);
  if (flags.tlsCert !== undefined) tls.cert = readPem("--tls-cert", flags.tlsCert);
  if (flags.tlsKey !== undefined) tls.key = readPem("--tls-key", flags.tlsKey);
  if (flags.tlsServername !== undefined) tls.servername = flags.tlsServername;
  if (flags.tlsInsecure) tls.rejectUnauthorized = false;
  return Object.keys(tls).length === 0 ? undefined : tls;
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const reason = (error as { code?: string }).code ?? (error as Error).message;
    throw new CliFailure(`${flag}: cannot read ${file} (${reason})`, EXIT.usage);
  }
}
