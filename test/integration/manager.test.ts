/**
 * The SessionsManager contract (test/support/manager-contract.ts) on a standalone Redis:
 * once with a store on an ioredis client of the app's own, once through
 * `RelsSession.configure()` and its shared pool, and on stores that encode or name sessions
 * differently (msgpack, a custom prefix, deflate). Each test gets a fresh namespace.
 */
import { dropStats, keysOf } from "../support/internals.js";
import { privateHex } from "../../src/ids.js";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import {
  createRelsSession,
  privateId,
  SessionsManager,
  type SessionStoreConfigInput,
} from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { RelsSession } from "../../src/rels-session.js";
import { RelsRedisStore } from "../../src/express/store.js";
import { recordsOf } from "../../src/record/of-store.js";
import { describeManagerContract } from "../support/manager-contract.js";
import { newSid, sessionFor } from "../support/store-contract.js";

const url = inject("redisUrl");

/** Leave nothing behind in a Redis we share: the sessions (with their index) and the stats keys. */
async function cleanUp(store: RelsRedisStore): Promise<void> {
  await store.clear().catch(() => undefined);
  await dropStats(store).catch(() => undefined);
}

describeManagerContract("standalone Redis, store on the app's own ioredis client", async () => {
  const client = new Redis(url);
  const store = new RelsRedisStore({ client, namespace: `t-${randomUUID()}` });
  const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
  return {
    store,
    manager,
    applicationName: "Turtle",
    close: async () => {
      await cleanUp(store);
      await client.quit();
    },
  };
});

describeManagerContract("standalone Redis, RelsSession.configure()", async () => {
  RelsSession.configure({ applicationName: "Turtle", redisOptions: { url, namespace: `t-${randomUUID()}` } });
  const store = RelsSession.store();
  return {
    store,
    manager: RelsSession.manager(),
    applicationName: "Turtle",
    close: async () => {
      await cleanUp(store);
      await RelsSession.close();
    },
  };
});

/**
 * A store built by `createRelsSession` with these store options (a fresh namespace each
 * time), and the instance's own manager.
 */
function configuredWith(store: () => NonNullable<SessionStoreConfigInput["store"]>) {
  return async () => {
    const instance = createRelsSession(
      { applicationName: "Turtle", redisOptions: { url, namespace: `t-${randomUUID()}` }, store: store() },
      { env: {} },
    );
    return {
      store: instance.store,
      manager: instance.manager,
      applicationName: "Turtle",
      close: async () => {
        await cleanUp(instance.store);
        await instance.close();
      },
    };
  };
}

describeManagerContract(
  'standalone Redis, serializer "msgpack"',
  configuredWith(() => ({ serializer: "msgpack" })),
);

// Not under the namespace: the manager must find sessions by the store's prefix alone.
describeManagerContract(
  "standalone Redis, a custom prefix",
  configuredWith(() => ({ prefix: `app-${randomUUID()}:sess:` })),
);

// Every session of the contract is over 64 bytes once encoded, so each one is deflated.
describeManagerContract(
  "standalone Redis, compressThreshold: 64",
  configuredWith(() => ({ compressThreshold: 64 })),
);

describe("the stores the contract runs on above are what their names say", () => {
  /** A session saved through the store, and what Redis holds for it. */
  async function saved(store: NonNullable<SessionStoreConfigInput["store"]>) {
    const target = await configuredWith(() => store)();
    try {
      const sid = newSid();
      await target.store.set(sid, sessionFor(60_000, { note: "x".repeat(200) }));
      const hex = privateHex(sid);
      const record = await recordsOf(target.store).read(hex);
      if (record === null || typeof record !== "object")
        throw new Error(`the saved session reads back as ${String(record)}`);
      return {
        key: keysOf(target.store).session(hex),
        firstByte: record.payload[0],
        back: await target.store.get(sid),
      };
    } finally {
      await target.close();
    }
  }

  it('serializer "msgpack" stores a MessagePack map', async () => {
    const { firstByte, back } = await saved({ serializer: "msgpack" });
    expect(
      firstByte === 0xde ||
        firstByte === 0xdf ||
        (firstByte !== undefined && firstByte >= 0x80 && firstByte <= 0x8f),
      String(firstByte),
    ).toBe(true);
    expect(back).toMatchObject({ note: "x".repeat(200) });
  });

  it("a custom prefix names the session keys", async () => {
    const prefix = `app-${randomUUID()}:sess:`;
    const { key, back } = await saved({ prefix });
    expect(key.startsWith(prefix)).toBe(true);
    expect(back).toMatchObject({ note: "x".repeat(200) });
  });

  it("compressThreshold: 64 deflates a session over 64 bytes", async () => {
    const { firstByte, back } = await saved({ compressThreshold: 64 });
    expect(firstByte).toBe(0x00);
    expect(back).toMatchObject({ note: "x".repeat(200) });
  });
});

describe("SessionsManager.sessionIdOf", () => {
  it("is the handle activeSessions marks as current, and neither the sid nor the private id", async () => {
    RelsSession.configure({
      applicationName: "Turtle",
      redisOptions: { url, namespace: `t-${randomUUID()}` },
    });
    const store = RelsSession.store();
    try {
      const sid = newSid();
      const req = { sessionID: sid, session: sessionFor(60_000), ip: "192.0.2.1", headers: {} };
      await SessionsManager.recordAuthenticatedRequest("u-handle", req as never);
      await store.set(sid, req.session);
      const handle = SessionsManager.sessionIdOf(req);
      const [listed] = await SessionsManager.activeSessions("u-handle", { current: req as never });
      expect(listed).toMatchObject({ sessionId: handle, current: true });
      expect(handle).not.toBe(sid);
      expect(privateId(sid)).not.toContain(handle);
    } finally {
      await cleanUp(store);
      await RelsSession.close();
    }
  });
});

describe("trackSessions while express-session has no session (store disconnected)", () => {
  it("passes the request on without calling getUser", async () => {
    const client = new Redis(url);
    try {
      const manager = new RelsSessionsManager({
        store: new RelsRedisStore({ client, namespace: `t-${randomUUID()}` }),
        applicationName: "Turtle",
      });
      let asked = 0;
      const middleware = manager.trackSessions({
        getUser: (req) => {
          asked += 1;
          return req.session.userId as string | undefined;
        },
      });
      const outcome = await new Promise<unknown>((resolve) =>
        middleware({ headers: {} } as never, {} as never, resolve),
      );
      expect(outcome).toBeUndefined();
      expect(asked).toBe(0);
    } finally {
      await client.quit();
    }
  });
});
