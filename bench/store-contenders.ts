/**
 * The store-level contenders, each a get+set pair and a get+touch pair on one session id.
 * Only one is ever loaded per process (bench/store-child.ts), so no contender's JIT state,
 * garbage or sockets colour another's figures.
 */
import type { SessionData } from "express-session";
import type { StoreContender } from "./options.js";
import { bump, ttlMsOf } from "./fixtures.js";
import { corker } from "./cork.js";
import { openConnectRedisStore, openRelsStore } from "./open-stores.js";

export interface OpenContender {
  /** get, change one field, set. */
  getSet(sid: string): Promise<void>;
  /** get, then touch (what express-session does for an unchanged session). */
  getTouch(sid: string): Promise<void>;
  seed(sid: string, session: SessionData): Promise<void>;
  close(): Promise<void>;
}

/** A session read back as null means the benchmark lost data: fail the run, do not count it. */
function missing(contender: StoreContender): never {
  throw new Error(`${contender}: a seeded session read back as missing during the benchmark`);
}

interface PromiseStore {
  get(sid: string): Promise<SessionData | null>;
  set(sid: string, session: SessionData): Promise<unknown>;
  touch(sid: string, session: SessionData): Promise<unknown>;
}

function storePairs(
  contender: StoreContender,
  store: PromiseStore,
  close: () => Promise<void>,
): OpenContender {
  return {
    async getSet(sid) {
      const session = (await store.get(sid)) ?? missing(contender);
      await store.set(sid, bump(session));
    },
    async getTouch(sid) {
      const session = (await store.get(sid)) ?? missing(contender);
      await store.touch(sid, session);
    },
    seed: async (sid, session) => {
      await store.set(sid, structuredClone(session));
    },
    close,
  };
}

/** Dynamic imports: a child loads only its own contender's client library. */
export async function openContender(
  contender: StoreContender,
  url: string,
  namespace: string,
  libRoot?: string,
): Promise<OpenContender> {
  switch (contender) {
    case "rels": {
      const { store, close } = await openRelsStore(url, namespace, libRoot);
      return storePairs(contender, store, close);
    }
    case "connect-redis": {
      const { store, close } = await openConnectRedisStore(url, namespace, "connect-redis child");
      return storePairs(contender, store, close);
    }
    case "ioredis-corked":
    case "ioredis-plain":
      return openRawIoredis(contender, url, namespace);
  }
}

/**
 * The least any store does: GET, JSON.parse, JSON.stringify, SET key value PX ttl (or
 * PEXPIRE for a touch), on one ioredis connection, corked per tick or not.
 */
async function openRawIoredis(
  contender: "ioredis-corked" | "ioredis-plain",
  url: string,
  namespace: string,
): Promise<OpenContender> {
  const { Redis } = await import("ioredis");
  const client = new Redis(url, { lazyConnect: true });
  await client.connect();
  const cork = contender === "ioredis-corked" ? corker(client) : () => undefined;
  const prefix = `${namespace}:`;
  const read = async (key: string) => {
    cork();
    const raw = await client.get(key);
    return raw === null ? missing(contender) : (JSON.parse(raw) as SessionData);
  };
  return {
    async getSet(sid) {
      const key = prefix + sid;
      const session = bump(await read(key));
      cork();
      await client.set(key, JSON.stringify(session), "PX", Math.ceil(ttlMsOf(session)));
    },
    async getTouch(sid) {
      const key = prefix + sid;
      const session = await read(key);
      cork();
      await client.pexpire(key, Math.ceil(ttlMsOf(session)));
    },
    seed: async (sid, session) => {
      await client.set(prefix + sid, JSON.stringify(session), "PX", Math.ceil(ttlMsOf(session)));
    },
    close: async () => void (await client.quit()),
  };
}
