import { READS_FROM_MASTERS_ONLY } from "./config.js";
import { ConfigError } from "./errors.js";

/**
 * `new RelsRedisStore({ client })` needs an ioredis `Redis` or `Cluster` (it defines Lua
 * commands on it). connect-redis 9 users hold a node-redis client, which would otherwise
 * fail deep inside with "client.defineCommand is not a function".
 */
export function assertIoredisClient(client: unknown): void {
  const candidate = client as { defineCommand?: unknown; sendCommand?: unknown; isOpen?: unknown } | null;
  if (candidate !== null && typeof candidate === "object" && typeof candidate.defineCommand === "function") {
    assertNoKeyPrefix(candidate);
    assertReadsFromMasters(candidate);
    return;
  }
  const looksLikeNodeRedis =
    candidate !== null &&
    typeof candidate === "object" &&
    typeof candidate.sendCommand === "function" &&
    "isOpen" in candidate;
  const given = looksLikeNodeRedis
    ? "a node-redis client (the `redis` package, as connect-redis 9 uses)"
    : `${describe(client)}`;
  throw new ConfigError([
    {
      path: "store.client",
      message:
        `expected an ioredis client (Redis or Cluster), got ${given}. ` +
        'Make one from the same URL: `import { Redis } from "ioredis"; new Redis(url)` ' +
        "(or `new Cluster(nodes)`), or omit `client` and call RelsSession.configure() first",
    },
  ]);
}

/**
 * An ioredis client made with `keyPrefix` prefixes every key argument, but not the pattern
 * of `SCAN MATCH` nor the keys a scan returns, nor the keys a Lua script builds from its
 * arguments: counting, listing, `clear()` and the cap would miss or mangle sessions. A
 * Cluster keeps its (or its `redisOptions`') `keyPrefix` in `options.keyPrefix` too.
 * The prefix itself is not echoed: it is the app's own text, but nothing needs it.
 */
function assertNoKeyPrefix(client: object): void {
  const keyPrefix = (client as { options?: { keyPrefix?: unknown } }).options?.keyPrefix;
  if (typeof keyPrefix !== "string" || keyPrefix === "") return;
  throw new ConfigError([
    {
      path: "store.client",
      message:
        "the ioredis client was created with `keyPrefix`, which rels-session cannot use: ioredis adds it to " +
        "command keys but not to SCAN patterns, scan results or keys built inside Lua scripts, so keys would be " +
        "prefixed twice or not at all and scans (counts, listings, clear) could not see the sessions. " +
        "Create the client without `keyPrefix` and pass the store's `prefix` (session keys) or `namespace` option instead",
    },
  ]);
}

/** A Cluster with `scaleReads` other than "master", or a Sentinel client with `role: "slave"`. */
function assertReadsFromMasters(client: object): void {
  const options = (client as { options?: { scaleReads?: unknown; role?: unknown } }).options;
  const scaleReads = options?.scaleReads;
  const field =
    scaleReads !== undefined && scaleReads !== "master"
      ? "scaleReads"
      : options?.role === "slave"
        ? "role"
        : undefined;
  if (field === undefined) return;
  throw new ConfigError([
    {
      path: `store.client.options.${field}`,
      message: `the ioredis client ${READS_FROM_MASTERS_ONLY}; create it with ${field} "master" (the default)`,
    },
  ]);
}

/** What was given, without its contents (it may hold a password). */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "Object"
    ? `an object of class ${name}`
    : "an object that is not a Redis client";
}
