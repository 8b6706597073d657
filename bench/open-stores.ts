/**
 * The two Redis-backed express-session stores the bench compares, opened the same way for the
 * store-level children (store-contenders.ts) and the HTTP servers (http-app.ts). Dynamic
 * imports: a child loads only its own contender's client library.
 */
import type { RelsRedisStore } from "../src/index.js";
import type { RedisStore } from "connect-redis";

export interface OpenStore<S> {
  readonly store: S;
  close(): Promise<void>;
}

/** rels-session on its own ioredis client. */
export async function openRelsStore(url: string, namespace: string): Promise<OpenStore<RelsRedisStore>> {
  const { Redis } = await import("ioredis");
  const { RelsRedisStore } = await import("../src/index.js");
  const client = new Redis(url, { lazyConnect: true });
  await client.connect();
  return { store: new RelsRedisStore({ client, namespace }), close: async () => void (await client.quit()) };
}

/** connect-redis 9 on a node-redis 5 client (the incumbent); `who` names the process in error lines. */
export async function openConnectRedisStore(url: string, namespace: string, who: string): Promise<OpenStore<RedisStore>> {
  const { createClient } = await import("redis");
  const { RedisStore } = await import("connect-redis");
  const client = createClient({ url });
  client.on("error", (error: unknown) => console.error(`${who}: ${String(error)}`));
  await client.connect();
  return { store: new RedisStore({ client, prefix: `${namespace}:` }), close: async () => void (await client.close()) };
}
