/**
 * The SessionsManager contract (test/support/manager-contract.ts) on a standalone Redis:
 * once with a store on an ioredis client of the app's own, once through
 * `RelsSession.configure()` and its shared pool. Each test gets a fresh namespace.
 */
import { keysOf, sourceOf } from "../support/internals.js";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import { privateId, SessionsManager } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { RelsSession } from "../../src/rels-session.js";
import { RelsRedisStore } from "../../src/express/store.js";
import { describeManagerContract } from "../support/manager-contract.js";
import { newSid, sessionFor } from "../support/store-contract.js";

const url = inject("redisUrl");

/** Leave nothing behind in a Redis we share: the sessions (with their index) and the stats keys. */
async function cleanUp(store: RelsRedisStore): Promise<void> {
  await store.clear().catch(() => undefined);
  const keys = keysOf(store);
  await sourceOf(store)
    .run(async (c) => {
      const buckets = await c.smembers(keys.statsRegistry());
      await c.del(keys.statsRegistry(), keys.statsUpdated(), ...buckets);
    })
    .catch(() => undefined);
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

describe("SessionsManager.sessionIdOf", () => {
  it("is the handle activeSessions marks as current, and neither the sid nor the private id", async () => {
    RelsSession.configure({ applicationName: "Turtle", redisOptions: { url, namespace: `t-${randomUUID()}` } });
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
      const manager = new RelsSessionsManager({ store: new RelsRedisStore({ client, namespace: `t-${randomUUID()}` }), applicationName: "Turtle" });
      let asked = 0;
      const middleware = manager.trackSessions({
        getUser: (req) => {
          asked += 1;
          return req.session.userId as string | undefined;
        },
      });
      const outcome = await new Promise<unknown>((resolve) => middleware({ headers: {} } as never, {} as never, resolve));
      expect(outcome).toBeUndefined();
      expect(asked).toBe(0);
    } finally {
      await client.quit();
    }
  });
});
