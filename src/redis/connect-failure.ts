import { withoutCommandArguments } from "./scrub.js";
import type { RedisTarget } from "./target.js";
import { maskUrlCredentials } from "../redact.js";
import { RedisConnectionError, type ConnectFailureReason } from "../errors.js";

/**
 * What a connection error tells about the cause. ioredis hands over Node's socket and TLS
 * errors (`code`), Redis's replies to AUTH/SELECT/SENTINEL, and wrappers that keep the real
 * error inside (`lastNodeError` of a Cluster, "Last error:" of a Sentinel round).
 */
export function reasonOf(error: Error): ConnectFailureReason {
  const code = (error as { code?: unknown }).code;
  const text = error.message;
  const inner = (error as { lastNodeError?: unknown }).lastNodeError;
  if (/cluster support disabled/i.test(text)) return "not a cluster";
  if (inner instanceof Error) return reasonOf(inner);
  if (/unknown command .?sentinel/i.test(text)) return "not a sentinel";
  if (isSelectFailure(error)) return "database refused";
  if (/\b(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i.test(text))
    return "authentication failed";
  if (typeof code === "string") {
    if (code === "ECONNREFUSED") return "connection refused";
    if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return "unknown host";
    if (code === "ETIMEDOUT") return "timed out";
    if (/CERT|SIGNATURE|ALTNAME|ISSUER/.test(code)) return "TLS certificate rejected";
    if (/^ERR_(SSL|TLS)_/.test(code)) return "TLS handshake failed";
  }
  if (/ECONNREFUSED/.test(text)) return "connection refused";
  if (/ENOTFOUND/.test(text)) return "unknown host";
  return "connection failed";
}

/** SELECT refused (`ERR DB index is out of range`): ioredis reports it and carries on in db 0. */
export function isSelectFailure(error: Error): boolean {
  const command = (error as { command?: { name?: unknown } }).command;
  return command?.name === "select" || /DB index is out of range|invalid DB index/i.test(error.message);
}

/** Where a target points, for messages: host:port without credentials. */
export function addressOf(target: RedisTarget): string {
  switch (target.kind) {
    case "url":
      return hostPortOfUrl(target.url);
    case "sentinel":
      return `Sentinel ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(",")} (master group "${target.name}")`;
    case "cluster":
      return `Cluster ${target.nodes.map((n) => (typeof n === "string" ? hostPortOfUrl(n) : typeof n === "number" ? `127.0.0.1:${n}` : `${n.host ?? "127.0.0.1"}:${n.port ?? 6379}`)).join(",")}`;
  }
}

/**
 * `redis://user:pa/ss@host:6380/2` → `host:6380`. Credentials end at the last `@`, as in
 * {@link maskUrlCredentials}: a URL parser would stop at the `/` of an unencoded password.
 */
function hostPortOfUrl(url: string): string {
  const masked = maskUrlCredentials(url);
  const rest = masked.replace(/^[a-z][a-z0-9+.-]*:\/\/(\*\*\*@)?/i, "");
  const hostPort = /^(\[[^\]]*\]|[^:/?#]*)(?::(\d+))?/.exec(rest);
  const host = hostPort?.[1] || "127.0.0.1";
  return `${host}:${hostPort?.[2] ?? "6379"}`;
}

/**
 * The error for a connection that could not be made: `error` is what ioredis reported last
 * (or undefined when nothing was reported before the deadline).
 */
export function connectionError(
  target: RedisTarget,
  error: Error | undefined,
  waitedMs: number,
): RedisConnectionError {
  const address = addressOf(target);
  if (error instanceof RedisConnectionError) return error;
  if (!error) return new RedisConnectionError(address, "timed out", `no answer within ${waitedMs} ms`);
  // The message of an error thrown by us or ioredis holds no credentials; a URL in it is masked anyway.
  return new RedisConnectionError(address, reasonOf(error), maskUrlCredentials(detailOf(error)), {
    cause: withoutCommandArguments(error),
  });
}

/** The error's message, with the node error a Cluster keeps inside ("Failed to refresh slots cache."). */
function detailOf(error: Error): string {
  const inner = (error as { lastNodeError?: unknown }).lastNodeError;
  return inner instanceof Error ? `${error.message} Last node error: ${inner.message}` : error.message;
}
