import { ConfigError } from "./errors.js";

/**
 * `new RelsRedisStore({ client })` needs an ioredis `Redis` or `Cluster` (it defines Lua
 * commands on it). connect-redis 9 users hold a node-redis client, which would otherwise
 * fail deep inside with "client.defineCommand is not a function".
 */
export function assertIoredisClient(client: unknown): void {
  const candidate = client as { defineCommand?: unknown; sendCommand?: unknown; isOpen?: unknown } | null;
  if (candidate !== null && typeof candidate === "object" && typeof candidate.defineCommand === "function") return;
  const looksLikeNodeRedis =
    candidate !== null && typeof candidate === "object" && typeof candidate.sendCommand === "function" && "isOpen" in candidate;
  const given = looksLikeNodeRedis ? "a node-redis client (the `redis` package, as connect-redis 9 uses)" : `${describe(client)}`;
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

/** What was given, without its contents (it may hold a password). */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "Object" ? `an object of class ${name}` : "an object that is not a Redis client";
}
