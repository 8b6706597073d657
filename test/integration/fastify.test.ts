/**
 * Fastify 5 + @fastify/cookie + @fastify/session on RelsRedisStore, end to end through
 * `app.inject()`, against the shared test Redis (its own namespace, never flushed): sign
 * in, read, regenerate, destroy, expiry, and the manager through Fastify's `request`.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore, sessionIdOfRequest, type ActiveSession } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { sessionHandle } from "../../src/ids.js";
import { docExample, runExample, type RunningExample } from "../support/example-process.js";
import { buildFastifyApp, fastifySessionCookie, fastifySidOf } from "../support/fastify-app.js";
import { countRoundTrips } from "../support/round-trips.js";
import { sessionFor, sha256 } from "../support/store-contract.js";
import { UA } from "../support/user-agents.js";

const url = inject("redisUrl");
const clients: Redis[] = [];
let store: RelsRedisStore;
let manager: RelsSessionsManager;
let app: FastifyInstance;
let example: RunningExample | undefined;

function storeOnOwnClient(client = new Redis(url)): RelsRedisStore {
  clients.push(client);
  return new RelsRedisStore({ namespace: `t-${randomUUID()}`, client });
}

beforeAll(async () => {
  store = storeOnOwnClient();
  manager = new RelsSessionsManager({ store, applicationName: "FastifyTest" });
  app = await buildFastifyApp({ store, manager });
});

afterAll(async () => {
  example?.stop();
  await app?.close();
  await Promise.all(clients.map((c) => c.quit()));
});

async function login(
  target: FastifyInstance,
  userId: string,
  userAgent: string = UA.windowsChrome,
): Promise<string> {
  const response = await target.inject({
    method: "POST",
    url: "/login",
    payload: { userId },
    headers: { "user-agent": userAgent },
  });
  expect(response.statusCode).toBe(200);
  expect(response.json()).toEqual({ userId });
  return fastifySessionCookie(response);
}

async function whoAmI(target: FastifyInstance, cookie: string): Promise<string | null> {
  const response = await target.inject({ method: "GET", url: "/me", headers: { cookie } });
  expect(response.statusCode).toBe(200);
  return (response.json() as { userId: string | null }).userId;
}

describe("Fastify sessions on RelsRedisStore", () => {
  it("signs in, reads the session back on the next request, and stores it under the private id only", async () => {
    const userId = `u-${randomUUID()}`;
    const cookie = await login(app, userId);
    const sid = fastifySidOf(cookie);
    expect(await whoAmI(app, cookie)).toBe(userId);

    // Fastify's cookie shape (originalExpires, sameSite null, …) passes the stored-shape check.
    const stored = (await store.get(sid)) as unknown as {
      userId: string;
      cookie: { expires: string; originalMaxAge: number };
    };
    expect(stored.userId).toBe(userId);
    expect(stored.cookie.originalMaxAge).toBe(3_600_000);
    expect(new Date(stored.cookie.expires).getTime()).toBeGreaterThan(Date.now());
    const raw = (await store.peekSession(sid)) as string;
    expect(raw).not.toContain(sid);
    expect((await store.ids()).includes(`2::${sha256(sid)}`)).toBe(true);
  });

  it("a request without a cookie, or with a forged one, is signed out", async () => {
    expect((await app.inject({ method: "GET", url: "/me" })).json()).toEqual({ userId: null });
    expect(await whoAmI(app, "sid=forged.signature")).toBeNull();
  });

  it("regenerate moves the user to a new sid and ends the old one", async () => {
    const userId = `u-${randomUUID()}`;
    const before = await login(app, userId);
    const response = await app.inject({ method: "POST", url: "/rotate", headers: { cookie: before } });
    expect(response.json()).toEqual({ userId });
    const after = fastifySessionCookie(response);
    expect(fastifySidOf(after)).not.toBe(fastifySidOf(before));
    expect(await store.get(fastifySidOf(before))).toBeNull();
    expect(await whoAmI(app, before)).toBeNull();
    expect(await whoAmI(app, after)).toBe(userId);
  });

  it("destroy (logout) deletes the session: its cookie is signed out", async () => {
    const userId = `u-${randomUUID()}`;
    const cookie = await login(app, userId);
    const response = await app.inject({ method: "POST", url: "/logout", headers: { cookie } });
    expect(response.json()).toEqual({ ok: true });
    expect(await store.get(fastifySidOf(cookie))).toBeNull();
    expect(await whoAmI(app, cookie)).toBeNull();
  });

  it("a short maxAge (2 s) expires the session in Redis, and its cookie is then signed out", async () => {
    const shortStore = storeOnOwnClient();
    const shortApp = await buildFastifyApp({
      store: shortStore,
      manager: new RelsSessionsManager({ store: shortStore, applicationName: "FastifyTest" }),
      // Long enough for the first read to find it on a busy machine, short enough to wait for.
      maxAge: 2_000,
    });
    try {
      const userId = `u-${randomUUID()}`;
      const cookie = await login(shortApp, userId);
      const sid = fastifySidOf(cookie);
      expect(await shortStore.get(sid)).toMatchObject({ userId });
      // Polled on the store (a request would roll the cookie forward); "did not hang" bound only.
      const deadline = Date.now() + 10_000;
      while ((await shortStore.get(sid)) !== null) {
        expect(Date.now(), "the session outlived its 2 s maxAge by 10 s").toBeLessThan(deadline);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(await whoAmI(shortApp, cookie)).toBeNull();
    } finally {
      await shortApp.close();
    }
  });
});

describe("Fastify's cookie shapes pass the store's stored-session check", () => {
  it.each([
    ["sameSite strict", { sameSite: "strict" }, 3_600_000],
    ["secure auto over HTTP (secure false, sameSite lax)", { secure: "auto" }, 3_600_000],
    [
      "partitioned, with a domain and a path",
      { partitioned: true, domain: "127.0.0.1", path: "/" },
      3_600_000,
    ],
    ["a browser-session cookie (no maxAge: no expires)", {}, null],
  ] as const)("%s", async (_name, cookieOptions, maxAge) => {
    const shapeStore = storeOnOwnClient();
    const shapeApp = await buildFastifyApp({
      store: shapeStore,
      manager: new RelsSessionsManager({ store: shapeStore, applicationName: "FastifyTest" }),
      cookie: { ...cookieOptions },
      maxAge,
    });
    try {
      const userId = `u-${randomUUID()}`;
      const cookie = await login(shapeApp, userId);
      // Read back as stored, through the shape check: a reject would be a miss.
      expect(await shapeStore.get(fastifySidOf(cookie))).toMatchObject({ userId });
      expect(await whoAmI(shapeApp, cookie)).toBe(userId);
    } finally {
      await shapeApp.close();
    }
  });
});

describe("the manager through Fastify's request", () => {
  it("sessionIdOfRequest reads request.session.sessionId, and express's req.sessionID first", () => {
    expect(sessionIdOfRequest({ session: { sessionId: "fastify-sid" } })).toBe("fastify-sid");
    expect(sessionIdOfRequest({ sessionID: "express-sid", session: {} })).toBe("express-sid");
    expect(sessionIdOfRequest({ session: {} })).toBeUndefined();
    expect(sessionIdOfRequest({})).toBeUndefined();
    expect(() => manager.sessionIdOf({ session: {} })).toThrow(/session/);
  });

  it("records sign-ins, lists them with `current`, and revokes one by its handle", async () => {
    const userId = `u-${randomUUID()}`;
    const phone = await login(app, userId, UA.iphoneSafari);
    const desktop = await login(app, userId, UA.windowsChrome);

    const listed = (
      await app.inject({ method: "GET", url: "/account", headers: { cookie: desktop } })
    ).json() as ActiveSession[];
    expect(listed).toHaveLength(2);
    const own = listed.find((s) => s.current)!;
    const other = listed.find((s) => !s.current)!;
    expect(own.sessionId).toBe(sessionHandle(sha256(fastifySidOf(desktop))));
    expect(other.sessionId).toBe(sessionHandle(sha256(fastifySidOf(phone))));
    expect(own.clientPlatform).toBe("web");
    expect(other.clientPlatform).toBe("mobile_web");
    expect(own.userId).toBe(userId);
    expect(own.applicationName).toBe("FastifyTest");
    expect(own.ip).toBe("127.0.0.1");
    expect(JSON.stringify(listed)).not.toContain(fastifySidOf(desktop));

    const revoke = await app.inject({
      method: "POST",
      url: `/sessions/${other.sessionId}/revoke`,
      headers: { cookie: desktop },
    });
    expect(revoke.json()).toEqual({ revoked: true });
    expect(await whoAmI(app, phone)).toBeNull();
    expect(await whoAmI(app, desktop)).toBe(userId);
  });

  it("the preHandler hook keeps the metadata fresh: the session's row follows its latest request", async () => {
    const userId = `u-${randomUUID()}`;
    const cookie = await login(app, userId, UA.windowsChrome);
    const headers = { cookie, "user-agent": UA.iphoneSafari };
    expect((await app.inject({ method: "GET", url: "/me", headers })).json()).toEqual({ userId });
    const listed = (await app.inject({ method: "GET", url: "/account", headers })).json() as ActiveSession[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      current: true,
      userAgent: UA.iphoneSafari,
      clientPlatform: "mobile_web",
    });
    // And Redis holds it too, not only the request in flight.
    const [row] = await manager.userSessions.sessions(userId);
    expect(row?.meta.clientPlatform).toBe("mobile_web");
  });

  it("logoutOtherSessions keeps the request's own session and ends the rest", async () => {
    const userId = `u-${randomUUID()}`;
    const first = await login(app, userId, UA.windowsChrome);
    const second = await login(app, userId, UA.iphoneSafari);
    const third = await login(app, userId, UA.pixelChrome);

    const response = await app.inject({
      method: "POST",
      url: "/sessions/revoke-others",
      headers: { cookie: first },
    });
    expect(response.json()).toEqual({ revoked: 2 });
    expect(await whoAmI(app, first)).toBe(userId);
    expect(await whoAmI(app, second)).toBeNull();
    expect(await whoAmI(app, third)).toBeNull();
    const listed = (
      await app.inject({ method: "GET", url: "/account", headers: { cookie: first } })
    ).json() as ActiveSession[];
    expect(listed.map((s) => s.current)).toEqual([true]);
  });

  it("revoking the request's own session ends it from the next request on", async () => {
    const userId = `u-${randomUUID()}`;
    const cookie = await login(app, userId);
    const own = manager.sessionIdOf({ session: { sessionId: fastifySidOf(cookie) } });
    const response = await app.inject({
      method: "POST",
      url: `/sessions/${own}/revoke`,
      headers: { cookie },
    });
    expect(response.json()).toEqual({ revoked: true });
    expect(await whoAmI(app, cookie)).toBeNull();
    expect(await store.get(fastifySidOf(cookie))).toBeNull();
  });
});

/**
 * A request that loaded its session and is held (`POST /slow-write`, on an app and store of
 * its own) while `revoke` ends that session; released, it changes the session, and
 * @fastify/session saves its copy of it. Returns what a read of the sid, and the cookie's
 * next request, find afterwards.
 */
async function saveAfterRevocation(
  revoke: (app: FastifyInstance, victim: string, userId: string, store: RelsRedisStore) => Promise<void>,
) {
  let entered!: () => void;
  let release!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const raceStore = storeOnOwnClient();
  const raceManager = new RelsSessionsManager({ store: raceStore, applicationName: "FastifyTest" });
  const raceApp = await buildFastifyApp({
    store: raceStore,
    manager: raceManager,
    routes: (target) =>
      target.post("/slow-write", async (request) => {
        entered();
        await gate;
        request.session.set("visits", 1);
        return { userId: request.session.userId ?? null };
      }),
  });
  try {
    const userId = `u-${randomUUID()}`;
    const victim = await login(raceApp, userId, UA.iphoneSafari);
    const slow = raceApp.inject({ method: "POST", url: "/slow-write", headers: { cookie: victim } });
    await inside;
    await revoke(raceApp, victim, userId, raceStore);
    release();
    expect((await slow).json()).toEqual({ userId });
    return { stored: await raceStore.get(fastifySidOf(victim)), signedInAs: await whoAmI(raceApp, victim) };
  } finally {
    release();
    await raceApp.close();
  }
}

describe("revocation while a Fastify request is in flight", () => {
  it("a request that loaded the session before another device revoked it cannot bring it back with its save", async () => {
    const after = await saveAfterRevocation(async (app, _victim, userId) => {
      const other = await login(app, userId, UA.windowsChrome);
      const revoked = await app.inject({
        method: "POST",
        url: "/sessions/revoke-others",
        headers: { cookie: other },
      });
      expect(revoked.json()).toEqual({ revoked: 1 });
    });
    expect(after.stored, "the late save resurrected a revoked session").toBeNull();
    expect(after.signedInAs).toBeNull();
  });

  it("a request that loaded the session before the same browser logged out on this process cannot bring it back with its save", async () => {
    const after = await saveAfterRevocation(async (app, victim) => {
      // The same cookie from another tab: request.session.destroy() in this process.
      expect(
        (await app.inject({ method: "POST", url: "/logout", headers: { cookie: victim } })).statusCode,
      ).toBe(200);
    });
    expect(after.stored, "the late save resurrected a logged-out session").toBeNull();
    expect(after.signedInAs).toBeNull();
  });
});

describe("store.clear() while a Fastify request is in flight", () => {
  it("the request that read its session before clear() cannot bring it back with its save", async () => {
    const after = await saveAfterRevocation(async (_app, _victim, _userId, raceStore) => {
      await raceStore.clear();
    });
    expect(after.stored, "the late save resurrected a cleared session").toBeNull();
    expect(after.signedInAs).toBeNull();
  });
});

describe("a revoked copy waiting while the process reads 100,000 other live sessions", () => {
  it("cannot bring its session back: what a process read is a cache, the revocation is Redis's", async () => {
    const after = await saveAfterRevocation(async (app, _victim, userId, raceStore) => {
      const other = await login(app, userId, UA.windowsChrome);
      const revoked = await app.inject({
        method: "POST",
        url: "/sessions/revoke-others",
        headers: { cookie: other },
      });
      expect(revoked.json()).toEqual({ revoked: 1 });
      // 12,000 other live sessions, each read about eight times: far past any read cache.
      const sids = Array.from({ length: 12_000 }, (_, i) => `flood-${i}-${randomUUID()}`);
      for (let i = 0; i < sids.length; i += 1_000)
        await Promise.all(
          sids.slice(i, i + 1_000).map((sid) => raceStore.set(sid, sessionFor(600_000, { n: i }))),
        );
      let reads = 0;
      for (let round = 0; reads < 100_000; round++) {
        const found = await Promise.all(
          sids.slice((round % 12) * 1_000, (round % 12) * 1_000 + 1_000).map((sid) => raceStore.get(sid)),
        );
        expect(found.every((s) => s !== null)).toBe(true);
        reads += found.length;
      }
    });
    expect(after.stored, "the late save resurrected a revoked session").toBeNull();
    expect(after.signedInAs).toBeNull();
  }, 120_000);
});

describe("round trips of a Fastify request (counted, not timed)", () => {
  it.each([
    [true, 2, ["get", "set"]],
    [false, 1, ["get"]],
  ] as const)(
    "rolling: %s — an unchanged signed-in GET costs %i round trip(s)",
    async (rolling, roundTrips, commands) => {
      const client = new Redis(url);
      const countedStore = storeOnOwnClient(client);
      const countedApp = await buildFastifyApp({
        store: countedStore,
        manager: new RelsSessionsManager({ store: countedStore, applicationName: "FastifyTest" }),
        rolling,
      });
      try {
        const userId = `u-${randomUUID()}`;
        const cookie = await login(countedApp, userId);
        const counter = countRoundTrips(client);
        try {
          // The login's user agent again: a new one would be a metadata change, hence a write.
          const response = await countedApp.inject({
            method: "GET",
            url: "/me",
            headers: { cookie, "user-agent": UA.windowsChrome },
          });
          expect(response.json()).toEqual({ userId });
          expect({ roundTrips: counter.roundTrips, commands: counter.commands }).toEqual({
            roundTrips,
            commands,
          });
        } finally {
          counter.restore();
        }
      } finally {
        await countedApp.close();
      }
    },
  );
});

describe('docs/fastify.md\'s "Using it with Fastify" example', () => {
  it("runs as written: sign in on two devices, list, revoke one, log out", async () => {
    example = await runExample(docExample("docs/fastify.md", "## Using it with Fastify"), {
      REDIS_URL: url,
      SESSION_SECRET: randomUUID(),
    });
    const { base } = example;
    // The example's namespace is fixed ("rels:session"), on the test's own Redis; the user is unique.
    const userId = `readme-${randomUUID()}`;
    const signIn = async (userAgent: string) => {
      const response = await fetch(`${base}/login`, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": userAgent },
        body: JSON.stringify({ username: userId }),
      });
      expect(response.status, example?.output()).toBe(200);
      expect(await response.json()).toEqual({ userId });
      const setCookie = response.headers.get("set-cookie");
      expect(setCookie, "the login response sets the session cookie").toMatch(/^sid=/);
      return setCookie!.split(";")[0]!;
    };
    const phone = await signIn(UA.iphoneSafari);
    const desktop = await signIn(UA.windowsChrome);
    const me = async (cookie: string) =>
      ((await (await fetch(`${base}/`, { headers: { cookie } })).json()) as { userId: string | null }).userId;
    expect(await me(desktop)).toBe(userId);

    const listed = (await (
      await fetch(`${base}/account`, { headers: { cookie: desktop } })
    ).json()) as ActiveSession[];
    expect(listed.map((s) => s.clientPlatform).sort()).toEqual(["mobile_web", "web"]);
    const other = listed.find((s) => !s.current)!;
    expect(other.clientPlatform).toBe("mobile_web");

    const revoke = await fetch(`${base}/sessions/${other.sessionId}/revoke`, {
      method: "POST",
      headers: { cookie: desktop },
    });
    expect(await revoke.json()).toEqual({ revoked: true });
    expect(await me(phone)).toBeNull();
    expect(await me(desktop)).toBe(userId);

    const logout = await fetch(`${base}/logout`, { method: "POST", headers: { cookie: desktop } });
    expect(await logout.json()).toEqual({ ok: true });
    expect(await me(desktop)).toBeNull();
  });
});
