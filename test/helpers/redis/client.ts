/** Talking to Redis while polling: one short-lived connection per question, and reply parsing. */
import { Redis } from "ioredis";
import type { RedisEndpoint } from "./types.js";
import { errorMessage } from "./wait.js";

/** A fresh connection for `use`: no retries, no offline queue, so a dead node fails fast. */
export async function withClient<T>(endpoint: RedisEndpoint, use: (client: Redis) => Promise<T>): Promise<T> {
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

export function redisCall(
  endpoint: RedisEndpoint,
  command: string,
  ...args: (string | number)[]
): Promise<unknown> {
  return withClient(endpoint, (client) => client.call(command, ...args));
}

export async function reachable(endpoints: RedisEndpoint[]): Promise<RedisEndpoint[]> {
  const alive = await Promise.all(
    endpoints.map((e) =>
      redisCall(e, "PING").then(
        () => true,
        () => false,
      ),
    ),
  );
  return endpoints.filter((_, i) => alive[i]);
}

/** Ask endpoints in turn; return the first answer. */
export async function firstAnswer<T>(
  endpoints: RedisEndpoint[],
  ask: (e: RedisEndpoint) => Promise<T>,
): Promise<T> {
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

export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && !line.startsWith("#")) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** RESP2 flat [k1, v1, k2, v2, …] replies (SENTINEL MASTER/REPLICAS) as a map. */
export function parsePairs(reply: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  if (!Array.isArray(reply)) return fields;
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  return fields;
}

export function addr(e: RedisEndpoint): string {
  return `${e.host}:${e.port}`;
}

export function parseAddr(hostPort: string): RedisEndpoint {
  const colon = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
}

export function endpointOf(server: RedisEndpoint): RedisEndpoint {
  return { host: server.host, port: server.port };
}

// ---------------------------------------------------------------------------------------------

export function replicationProblem(
  node: RedisEndpoint,
  replication: Map<string, string>,
): string | undefined {
  if (replication.get("role") !== "slave") return undefined;
  if (replication.get("master_link_status") !== "up")
    return `${addr(node)}: replica link is ${String(replication.get("master_link_status"))}`;
  if (replication.get("master_sync_in_progress") !== "0") return `${addr(node)}: replica still syncing`;
  return undefined;
}
