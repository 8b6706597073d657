/**
 * Migration from plain-sid keys (`legacyFallback`, `mirrorWrites`), issue 8's promises:
 * - a `set` racing a `destroy` never leaves the plain copy behind;
 * - `clear()` ends the plain copies too;
 * - every revocation by private id (logoutAllSessions, logoutSession, logoutOtherSessions,
 *   a cap eviction) ends the plain copy as well, so neither an old-version server (which
 *   reads `<prefix><sid>`) nor a new one with `legacyFallback` finds the session again;
 * - a sid that could name one of the library's own keys never reads, writes or deletes it.
 */
import { randomUUID } from "node:crypto";
import type express from "express";
import type { SessionData } from "express-session";
import { describe, expect, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { login, signInApp, whoAmI, type LoggedIn } from "../support/express-app.js";
import { keysOf } from "../support/internals.js";
import { newSid, signedInSession } from "../support/signed-in.js";
import { sha256 } from "../support/store-contract.js";
import { clientsForThisFile } from "../support/stores.js";

/** `redis` reads and plants keys the way another process would; never FLUSHes. */
const { client, redis } = clientsForThisFile();

type StoreOptions = ConstructorParameters<typeof RelsRedisStore>[0];

interface Side {
  store: RelsRedisStore;
  manager: RelsSessionsManager;
  app: express.Express;
}

/** A store, its manager and a sign-in app (the manager records each sign-in). */
function side(namespace: string, options: StoreOptions, maxSessionsPerUser?: number): Side {
  const store = new RelsRedisStore({ client, namespace, ...options });
  const manager = new RelsSessionsManager({
    store,
    applicationName: "Turtle",
    ...(maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser }),
  });
  const app = signInApp(store, { onLogin: (userId, req) => manager.recordAuthenticatedRequest(userId, req) });
  return { store, manager, app };
}

/**
 * A rollout: `mixed` is a new-version server that mirrors its writes for old-version servers
 * (`mirrorWrites`); `fallback` is a new-version server that still reads plain copies
 * (`legacyFallback`). Both share one namespace (and so one prefix).
 */
function rollout(maxSessionsPerUser?: number): { mixed: Side; fallback: Side } {
  const namespace = `t-${randomUUID()}`;
  return {
    mixed: side(namespace, { mirrorWrites: true }, maxSessionsPerUser),
    fallback: side(namespace, { legacyFallback: true }),
  };
}

function plainExists(s: Side, sid: string): Promise<number> {
  return redis.exists(keysOf(s.store).legacy(sid));
}

function privateExists(s: Side, sid: string): Promise<number> {
  return redis.exists(keysOf(s.store).session(sha256(sid)));
}

/** Signed in through the mirroring server: both copies exist, and both servers see the user. */
async function signedIn(r: { mixed: Side; fallback: Side }, user: string): Promise<LoggedIn> {
  const session = await login(r.mixed.app, user);
  expect(await plainExists(r.mixed, session.sid), "the plain-sid mirror exists").toBe(1);
  expect(await whoAmI(r.fallback.app, session.cookie), "the fallback server sees the session").toBe(user);
  return session;
}

/** The promise: no copy left anywhere, and no server (old or new) finds the session. */
async function expectEnded(
  r: { mixed: Side; fallback: Side },
  session: LoggedIn,
  label: string,
): Promise<void> {
  expect(await privateExists(r.mixed, session.sid), `${label}: no private key`).toBe(0);
  // An old-version server (connect-redis on the same prefix) reads exactly this key.
  expect(await plainExists(r.mixed, session.sid), `${label}: EXISTS <prefix><sid> is 0`).toBe(0);
  expect(
    await whoAmI(r.fallback.app, session.cookie),
    `${label}: a legacyFallback server finds no session`,
  ).toBeNull();
  expect(
    await whoAmI(r.mixed.app, session.cookie),
    `${label}: the mirroring server finds no session`,
  ).toBeNull();
}

describe("mirrorWrites: a set racing a destroy of the same session", () => {
  it("never leaves the plain-sid copy (50 rounds)", async () => {
    const { mixed } = rollout();
    const user = `u-${randomUUID()}`;
    const leftovers: string[] = [];
    for (let round = 0; round < 50; round++) {
      const sid = newSid();
      await mixed.store.set(sid, await signedInSession(mixed.manager, sid, user));
      // A request that loaded the session saves it while another request destroys it. The
      // destroy starts a few turns later in some rounds, so it lands on each step of the save.
      const loaded = (await mixed.store.get(sid)) as (SessionData & { visits?: number }) | null;
      expect(loaded, `round ${round}: the session was stored`).not.toBeNull();
      loaded!.visits = round;
      const destroyLater = async () => {
        for (let turn = 0; turn < round % 5; turn++) await new Promise((resolve) => setImmediate(resolve));
        await mixed.store.destroy(sid);
      };
      await Promise.all([mixed.store.set(sid, loaded!), destroyLater()]);
      const [plain, priv] = [await plainExists(mixed, sid), await privateExists(mixed, sid)];
      if (plain !== 0 || priv !== 0) leftovers.push(`round ${round}: plain ${plain}, private ${priv}`);
    }
    expect(leftovers, "the destroy wins: neither copy is left").toEqual([]);
  });
});

describe("legacyFallback: store.clear()", () => {
  it("removes the plain copies, so a request with an old cookie has no session", async () => {
    const r = rollout();
    const users = [`u-${randomUUID()}`, `v-${randomUUID()}`];
    const sessions = await Promise.all(users.map((user) => signedIn(r, user)));
    // A plain copy whose private key is already gone: only the fallback read finds it.
    await redis.del(keysOf(r.mixed.store).session(sessions[1]!.hex));
    expect(await whoAmI(r.fallback.app, sessions[1]!.cookie), "the fallback read finds the plain copy").toBe(
      users[1],
    );

    await r.fallback.store.clear();
    for (const [i, session] of sessions.entries()) {
      expect(await plainExists(r.fallback, session.sid), `session ${i}: no plain copy`).toBe(0);
      expect(await whoAmI(r.fallback.app, session.cookie), `session ${i}: no session`).toBeNull();
    }
  });
});

// The plain copy of a session revoked by private id: issue 8 found it alive (an old-version
// server kept serving it). These state the promise; they pass once every revocation path
// ends the plain copy too.
describe("mirrorWrites: revocations by private id end the plain copy too", () => {
  it("logoutAllSessions", async () => {
    const r = rollout();
    const user = `u-${randomUUID()}`;
    const sessions = [await signedIn(r, user), await signedIn(r, user)];
    expect(await r.mixed.manager.logoutAllSessions(user)).toBe(2);
    for (const [i, session] of sessions.entries()) await expectEnded(r, session, `session ${i}`);
  });

  it("logoutSession", async () => {
    const r = rollout();
    const user = `u-${randomUUID()}`;
    const [gone, kept] = [await signedIn(r, user), await signedIn(r, user)];
    expect(
      await r.mixed.manager.logoutSession(user, r.mixed.manager.sessionIdOf({ sessionID: gone.sid })),
    ).toBe(true);
    await expectEnded(r, gone, "the revoked session");
    expect(await plainExists(r.mixed, kept.sid), "the other session's plain copy is kept").toBe(1);
    expect(await whoAmI(r.fallback.app, kept.cookie), "the other session is still signed in").toBe(user);
  });

  it("logoutOtherSessions", async () => {
    const r = rollout();
    const user = `u-${randomUUID()}`;
    const [kept, ...others] = [await signedIn(r, user), await signedIn(r, user), await signedIn(r, user)];
    expect(await r.mixed.manager.logoutOtherSessions(user, { sessionID: kept!.sid, headers: {} })).toBe(2);
    for (const [i, session] of others.entries()) await expectEnded(r, session, `other session ${i}`);
    expect(await plainExists(r.mixed, kept!.sid), "the request's own plain copy is kept").toBe(1);
    expect(await whoAmI(r.fallback.app, kept!.cookie), "the request's own session is still signed in").toBe(
      user,
    );
  });

  it("a cap eviction (maxSessionsPerUser: 1)", async () => {
    const r = rollout(1);
    const user = `u-${randomUUID()}`;
    const first = await signedIn(r, user);
    const second = await login(r.mixed.app, user);
    expect((await r.mixed.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([
      r.mixed.manager.sessionIdOf({ sessionID: second.sid }),
    ]);
    await expectEnded(r, first, "the evicted session");
    expect(await whoAmI(r.fallback.app, second.cookie), "the newer session is signed in").toBe(user);
  });
});

describe("a sid that could name one of the library's own keys", () => {
  /** A connect-redis-shaped session, planted where `<prefix><sid>` points. */
  const PLANTED = JSON.stringify({
    cookie: { originalMaxAge: 60_000, httpOnly: true, path: "/" },
    userId: "mallory",
  });

  for (const mode of [{ legacyFallback: true }, { mirrorWrites: true }] as const) {
    const modeName = Object.keys(mode)[0]!;
    it(`never reads, writes or deletes that key (${modeName})`, async () => {
      const namespace = `t-${randomUUID()}`;
      const store = new RelsRedisStore({ client, namespace, ...mode });
      const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
      const keys = keysOf(store);
      const victimSid = newSid();
      const victimHex = sha256(victimSid);
      const sids = [`{2::${victimHex}}`, `user:{alice}`, "2:secure_store_enabled", "probe"];
      // The keys those sids name under `<prefix>`: a real session record, a real user index,
      // the migration flag (recent, so migration is not done), and the probe key.
      await store.set(victimSid, await signedInSession(manager, victimSid, "alice"));
      await redis.set(keys.migrationFlag(), String(Date.now()));
      await redis.set(`${keys.prefix}probe`, PLANTED, "PX", 600_000);
      expect(keys.legacy(sids[0]!)).toBe(keys.session(victimHex));
      expect(keys.legacy(sids[1]!)).toBe(keys.userIndex("alice"));
      expect(keys.legacy(sids[2]!)).toBe(keys.migrationFlag());

      const snapshot = async () =>
        Promise.all(
          sids.map(async (sid) => {
            const key = keys.legacy(sid);
            return { sid, type: await redis.type(key), dump: await redis.dumpBuffer(key) };
          }),
        );
      const before = await snapshot();
      expect(before.map((k) => k.type)).toEqual(["string", "zset", "string", "string"]);

      for (const sid of sids) {
        expect(await store.get(sid), `${sid}: the other key is not read as a session`).toBeNull();
        await store.set(sid, await signedInSession(manager, sid, "mallory"));
        const stored = (await store.get(sid)) as (SessionData & { userId?: string }) | null;
        expect(stored?.userId, `${sid}: its own session lives under its private id`).toBe("mallory");
        await store.destroy(sid);
        expect(await store.get(sid), `${sid}: destroyed`).toBeNull();
      }
      const after = await snapshot();
      for (const [i, key] of after.entries()) {
        expect(key.type, `${key.sid}: the other key keeps its type`).toBe(before[i]!.type);
        expect(key.dump?.equals(before[i]!.dump!), `${key.sid}: the other key is untouched`).toBe(true);
      }
      expect(
        (await manager.activeSessions("alice")).map((s) => s.sessionId),
        "alice's session is still hers",
      ).toEqual([manager.sessionIdOf({ sessionID: victimSid })]);
    });
  }
});

describe("legacyFallback: a session read from its plain-sid key, then destroyed", () => {
  // The read found no private key; the destroy (by sid) deletes the plain copy and marks the
  // session revoked. A save or a touch from the request that read it must not bring it back.
  for (const step of ["save", "touch"] as const) {
    it(`is not brought back by a ${step} from the request that read it`, async () => {
      const store = new RelsRedisStore({
        client,
        namespace: `t-${randomUUID()}`,
        legacyFallback: true,
        touchAfter: 0,
      });
      const sid = newSid();
      const plain = {
        cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() },
        n: 1,
      };
      await redis.set(keysOf(store).legacy(sid), JSON.stringify(plain), "PX", 60_000);
      const loaded = (await store.get(sid))!;
      expect(loaded, "the fallback read finds the plain copy").toMatchObject({ n: 1 });
      await store.destroy(sid);
      if (step === "save") await store.set(sid, loaded);
      else await store.touch(sid, loaded);
      expect(await store.get(sid)).toBeNull();
      expect(await redis.exists(keysOf(store).session(sha256(sid)))).toBe(0);
    });
  }
});
