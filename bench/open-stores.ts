/**
 * The two Redis-backed express-session stores the bench compares, opened the same way for the
 * store-level children (store-contenders.ts) and the HTTP servers (http-app.ts). Dynamic
 * imports: a child loads only its own contender's client library (and, for rels, the one
 * build it was given: this tree's, or a `--baseline` worktree's).
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type * as Rels from "../src/index.js";
import type { RelsRedisStore, RelsSessionsManager } from "../src/index.js";
import type { RedisStore } from "connect-redis";

export interface OpenStore<S> {
  readonly store: S;
  close(): Promise<void>;
}

/**
 * The library: this tree's source, or the one under `libRoot` (a baseline's worktree, run by
 * tsx like this one). Typed as this tree's: the bench uses only the public API both share
 * (RelsRedisStore, a manager's recordAuthenticatedRequest and trackSessions).
 */
export async function loadRels(libRoot?: string): Promise<typeof Rels> {
  if (libRoot === undefined) return import("../src/index.js");
  return (await import(pathToFileURL(join(libRoot, "src", "index.ts")).href)) as typeof Rels;
}

/**
 * The manager of `store`: `SessionsManager.for` on this tree; a baseline from before issue 19's
 * narrower barrel exports the class, which is what it gets then.
 */
export function relsManager(
  rels: typeof Rels,
  store: RelsRedisStore,
  applicationName: string,
): RelsSessionsManager {
  type ManagerClass = new (options: {
    store: RelsRedisStore;
    applicationName: string;
  }) => RelsSessionsManager;
  const OwnClass = (rels as { RelsSessionsManager?: ManagerClass }).RelsSessionsManager;
  return OwnClass
    ? new OwnClass({ store, applicationName })
    : rels.SessionsManager.for(store, { applicationName });
}

/** rels-session on its own ioredis client; `libRoot` as in loadRels. */
export async function openRelsStore(
  url: string,
  namespace: string,
  libRoot?: string,
): Promise<OpenStore<RelsRedisStore>> {
  const { Redis } = await import("ioredis");
  const { RelsRedisStore } = await loadRels(libRoot);
  const client = new Redis(url, { lazyConnect: true });
  await client.connect();
  return { store: new RelsRedisStore({ client, namespace }), close: async () => void (await client.quit()) };
}

/** connect-redis 9 on a node-redis 5 client (the incumbent); `who` names the process in error lines. */
export async function openConnectRedisStore(
  url: string,
  namespace: string,
  who: string,
): Promise<OpenStore<RedisStore>> {
  const { createClient } = await import("redis");
  const { RedisStore } = await import("connect-redis");
  const client = createClient({ url });
  client.on("error", (error: unknown) => console.error(`${who}: ${String(error)}`));
  await client.connect();
  return {
    store: new RedisStore({ client, prefix: `${namespace}:` }),
    close: async () => void (await client.close()),
  };
}
