/**
 * Invariant 2, "revoked means revoked": once a destroy or a revoke has resolved, a request
 * that loaded the session earlier and saves (or touches) it at its end cannot bring it back.
 */
import { keysOf } from "../support/internals.js";
import { randomUUID } from "node:crypto";
import type express from "express";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { login, sidOf, signInApp, whoAmI } from "../support/express-app.js";
import { sha256 } from "../support/store-contract.js";
import { SlowRequests } from "../support/slow-requests.js";

/** The sign-in app (every sign-in recorded), plus the slow routes. */
function buildApp(store: RelsRedisStore, manager: RelsSessionsManager): express.Express {
  const app = signInApp(store, {
    onLogin: (userId, req) => manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 }),
  });
  return slowRequests.addRoutes(app, manager);
}

const url = inject("redisUrl");
const namespace = `t-${randomUUID()}`;
let client: Redis;
let redis: Redis;
let store: RelsRedisStore;
let manager: RelsSessionsManager;
let app: express.Express;
/** touchAfter 0: every unchanged request really sends its touch. */
let eagerStore: RelsRedisStore;
let eagerManager: RelsSessionsManager;
let eagerApp: express.Express;
/** mirrorWrites (a mixed-version rollout): sessions are also written under plain-sid keys. */
let mirrorStore: RelsRedisStore;
let mirrorManager: RelsSessionsManager;
let mirrorApp: express.Express;
const slowRequests = new SlowRequests();

beforeAll(async () => {
  client = new Redis(url);
  redis = new Redis(url);
  store = new RelsRedisStore({ client, namespace });
  manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
  app = buildApp(store, manager);
  eagerStore = new RelsRedisStore({ client, namespace: `${namespace}-eager`, touchAfter: 0 });
  eagerManager = new RelsSessionsManager({ store: eagerStore, applicationName: "Turtle" });
  eagerApp = buildApp(eagerStore, eagerManager);
  mirrorStore = new RelsRedisStore({ client, namespace: `${namespace}-mirror`, mirrorWrites: true });
  mirrorManager = new RelsSessionsManager({ store: mirrorStore, applicationName: "Turtle" });
  mirrorApp = buildApp(mirrorStore, mirrorManager);
  await Promise.all([client.ping(), redis.ping()]);
});

afterAll(async () => {
  await Promise.all([client.quit(), redis.quit()]);
});

/**
 * Start `path` with `cookie`, wait until the route holds the loaded session, run `revoke`,
 * then let the route finish. Resolves with the slow response.
 */
async function revokeDuring(
  target: express.Express,
  method: "get" | "post",
  path: string,
  cookie: string,
  revoke: () => Promise<unknown>,
  headers: Record<string, string> = {},
): Promise<request.Response> {
  const held = await slowRequests.start(target, method, path, cookie, headers);
  try {
    await revoke();
  } catch (error) {
    void held.finish();
    throw error;
  }
  return held.finish();
}

async function expectGone(
  target: express.Express,
  s: RelsRedisStore,
  cookie: string,
  hex: string,
  user: string,
  m: RelsSessionsManager,
) {
  expect(await whoAmI(target, cookie), "the next request with the cookie has no session").toBeNull();
  expect(await redis.exists(keysOf(s).session(hex)), "no session key in Redis").toBe(0);
  expect(await redis.zscore(keysOf(s).userIndex(user), hex), "no index entry").toBeNull();
  expect(await m.activeSessions(user)).toEqual([]);
}

describe("a request in flight cannot resurrect a destroyed session", () => {
  it("when another request with the same cookie logs out (req.session.destroy)", async () => {
    const user = `u-${randomUUID()}`;
    const { cookie, hex } = await login(app, user);
    const slow = await revokeDuring(app, "post", "/slow-write", cookie, () =>
      request(app).post("/logout").set("Cookie", cookie).expect(200),
    );
    expect(slow.status).toBe(200);
    expect(slow.body.hadUser).toBe(user); // it did load the session before the logout
    await expectGone(app, store, cookie, hex, user, manager);
  });

  it("when store.destroy(sid) is called directly", async () => {
    const user = `u-${randomUUID()}`;
    const { cookie, sid, hex } = await login(app, user);
    const slow = await revokeDuring(app, "post", "/slow-write", cookie, () => store.destroy(sid));
    expect(slow.status).toBe(200);
    expect(slow.body.hadUser).toBe(user);
    await expectGone(app, store, cookie, hex, user, manager);
  });

  it("when manager.logoutSession(user, handle) revokes it", async () => {
    const user = `u-${randomUUID()}`;
    const { cookie, hex } = await login(app, user);
    const [listed] = await manager.activeSessions(user);
    expect(listed).toBeDefined();
    const slow = await revokeDuring(app, "post", "/slow-write", cookie, async () => {
      expect(await manager.logoutSession(user, listed!.sessionId)).toBe(true);
    });
    expect(slow.status).toBe(200);
    await expectGone(app, store, cookie, hex, user, manager);
  });

  it("when manager.logoutAllSessions(user) revokes it while the request re-records its metadata", async () => {
    const user = `u-${randomUUID()}`;
    const { cookie, hex } = await login(app, user);
    const slow = await revokeDuring(
      app,
      "post",
      "/slow-record",
      cookie,
      async () => expect(await manager.logoutAllSessions(user)).toBe(1),
      { "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) Mobile/15E148 Safari/604.1" },
    );
    expect(slow.status).toBe(200);
    expect(slow.body.hadUser).toBe(user);
    await expectGone(app, store, cookie, hex, user, manager);
  });
});

describe("a request in flight cannot resurrect a destroyed session, with mirrorWrites: true", () => {
  it("when another request with the same cookie logs out (req.session.destroy)", async () => {
    const user = `u-${randomUUID()}`;
    const { cookie, sid, hex } = await login(mirrorApp, user);
    expect(await redis.exists(keysOf(mirrorStore).legacy(sid)), "the plain-sid mirror exists").toBe(1);
    const slow = await revokeDuring(mirrorApp, "post", "/slow-write", cookie, () =>
      request(mirrorApp).post("/logout").set("Cookie", cookie).expect(200),
    );
    expect(slow.status).toBe(200);
    expect(slow.body.hadUser).toBe(user);
    await expectGone(mirrorApp, mirrorStore, cookie, hex, user, mirrorManager);
    // The refused save must not write the plain-sid mirror either: old-version processes read
    // it, and so does this store's own fallback when the private key is missing.
    expect(await redis.exists(keysOf(mirrorStore).legacy(sid)), "no plain-sid mirror").toBe(0);
  });
});

describe("touch after destroy does not recreate the session", () => {
  it("store.touch(sid, session) after store.destroy(sid) writes nothing", async () => {
    const sid = randomUUID();
    const hex = sha256(sid);
    const sessionData = {
      cookie: {
        originalMaxAge: 60_000,
        expires: new Date(Date.now() + 60_000).toISOString(),
        httpOnly: true,
        path: "/",
      },
      visits: 1,
    } as unknown as SessionData;
    await store.set(sid, sessionData);
    expect(await redis.exists(keysOf(store).session(hex))).toBe(1);
    await store.destroy(sid);
    // A session object that was not read from the store: no throttle, the touch is sent.
    await store.touch(sid, sessionData);
    expect(await redis.exists(keysOf(store).session(hex))).toBe(0);
    expect(await store.get(sid)).toBeNull();
  });

  it("an unchanged request in flight whose touch lands after the logout", async () => {
    const user = `u-${randomUUID()}`;
    const { cookie, hex } = await login(eagerApp, user);
    const touches: string[] = [];
    const spy = (sid: string) => touches.push(sid);
    const originalTouch = eagerStore.touch.bind(eagerStore);
    // Observe (not change) express-session's touch, to prove the race really ran it.
    eagerStore.touch = ((sid: string, sess: SessionData, cb?: (err: unknown) => void) => {
      spy(sid);
      return cb ? originalTouch(sid, sess, cb) : originalTouch(sid, sess);
    }) as typeof eagerStore.touch;
    try {
      const slow = await revokeDuring(eagerApp, "get", "/slow-read", cookie, () =>
        request(eagerApp).post("/logout").set("Cookie", cookie).expect(200),
      );
      expect(slow.status).toBe(200);
      expect(slow.body.hadUser).toBe(user);
    } finally {
      eagerStore.touch = originalTouch as typeof eagerStore.touch;
    }
    expect(touches).toEqual([sidOf(cookie)]);
    await expectGone(eagerApp, eagerStore, cookie, hex, user, eagerManager);
  });
});
