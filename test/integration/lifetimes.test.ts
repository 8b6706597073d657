/**
 * Absolute lifetimes (issue 21 item 1) on a standalone Redis, through express-session with
 * `rolling: true`: a session past its profile's `absoluteMs` is refused on its next request,
 * however active it was, and leaves `activeSessions` and the stats totals; one nobody uses
 * leaves Redis at its deadline by itself (its TTL and filing never pass it). Profiles: the
 * default, one named at sign-in, one per platform, and an unknown name.
 *
 * The lifetimes are a few seconds (the config's floor is 1000 ms): the tests wait for the
 * deadline itself, which `activeSessions` tells them, never for a guessed number of ms.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, describe, expect, inject, it, vi } from "vitest";
import {
  RelsRedisStore,
  createRelsSession,
  type RelsSessionInstance,
  type SessionData,
  type RevocationEvent,
  type SessionStoreConfigInput,
} from "../../src/index.js";
import { deleteNamespace } from "../support/cleanup.js";
import { COOKIE_MAX_AGE_MS, lifetimeApp } from "../support/lifetime-app.js";
import { expectSessionCookie, sidOf, whoAmI } from "../support/express-app.js";
import { keysOf, revocationsOf } from "../support/internals.js";
import { recordsOf } from "../../src/record/of-store.js";
import { waitUntil } from "../helpers/redis/wait.js";
import { openEventStream, startLiveApp, within } from "../support/live-connections.js";
import { sha256 } from "../support/store-contract.js";
import { UA } from "../support/user-agents.js";
import { newSid, signedInSession } from "../support/signed-in.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { TUNABLES } from "../../src/tunables.js";
import { sessionHandle } from "../../src/ids.js";

const url = inject("redisUrl");
/** To look at what Redis holds, as another process would. */
const inspector = new Redis(url);
const instances: Array<{ instance: RelsSessionInstance; namespace: string }> = [];

afterAll(async () => {
  inspector.disconnect();
  for (const { instance, namespace } of instances) {
    await instance.close();
    await deleteNamespace(url, namespace);
  }
});

const SHORT_MS = 2_500;
/** How long Redis keeps a record past its deadline (unreadable) for the lifetime sweep. */
const GRACE_MS = TUNABLES.record.lifetimeGraceMs;

function configured(lifetimes: NonNullable<SessionStoreConfigInput["sessions"]>["lifetimes"]) {
  const namespace = `t-life-${randomUUID()}`;
  const instance = createRelsSession(
    { applicationName: "Turtle", redisOptions: { url, namespace }, sessions: { lifetimes } },
    { env: {} },
  );
  instances.push({ instance, namespace });
  const app = lifetimeApp(instance.store, instance.manager);
  return { instance, app, keys: keysOf(instance.store) };
}

async function signIn(
  app: ReturnType<typeof lifetimeApp>,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const res = await request(app).post("/login").set(headers).send(body).expect(200);
  const cookie = expectSessionCookie(res);
  const sid = sidOf(cookie);
  return {
    cookie,
    sid,
    hex: sha256(sid),
    absoluteExpiresAt: res.body.absoluteExpiresAt as string | null,
    signInAt: Date.parse(res.body.signInAt as string),
  };
}

/** `userId` signed in with a two-minute absolute lifetime, and that deadline (ms). */
async function signedInForTwoMinutes(userId: string) {
  const { instance, app, keys } = configured({
    profiles: { twoMinutes: { absoluteMs: 120_000 } },
    default: "twoMinutes",
  });
  const session = await signIn(app, { userId });
  return { instance, keys, session, deadline: Date.parse(session.absoluteExpiresAt!) };
}

/** Resolves once the wall clock is past `ms` (the deadline the store was given). */
async function until(ms: number): Promise<void> {
  while (Date.now() <= ms)
    await new Promise((resolve) => setTimeout(resolve, Math.min(100, ms - Date.now() + 1)));
}

describe("absolute lifetimes (sessions.lifetimes)", () => {
  it("a rolling session in use is refused on its first request past its deadline; an unused one is a miss then and leaves Redis by itself a grace later; both leave the listing and the totals", async () => {
    const { instance, app, keys } = configured({
      profiles: { short: { absoluteMs: SHORT_MS } },
      default: "short",
    });
    const busy = await signIn(app, { userId: "alice" });
    const idle = await signIn(app, { userId: "alice" });

    // Listed with its deadline; `expiresAt` (the idle expiry, 60 s) never passes it.
    const listed = await instance.manager.activeSessions("alice");
    expect(listed).toHaveLength(2);
    const deadline = Math.max(...listed.map((s) => s.absoluteExpiresAt!.getTime()));
    for (const session of listed) {
      expect(session.absoluteExpiresAt!.getTime() - session.signInAt.getTime()).toBe(SHORT_MS);
      expect(session.expiresAt.getTime()).toBeLessThanOrEqual(session.absoluteExpiresAt!.getTime());
    }
    expect((await instance.stats.totals()).totalSessions).toBe(2);
    // Redis's TTL is capped by the deadline (plus the sweep's grace), not the cookie's 60 s.
    const idleDeadline = listed.find((s) => s.sessionId === sessionHandle(idle.hex))!.absoluteExpiresAt!;
    expect(await inspector.pexpiretime(keys.session(idle.hex))).toBe(idleDeadline.getTime() + GRACE_MS);

    // The busy one: a request every 200 ms keeps refreshing it (rolling), up to its deadline.
    let requests = 0;
    while (Date.now() < deadline - 400) {
      expect(await whoAmI(app, busy.cookie)).toBe("alice");
      requests += 1;
      expect(await inspector.pttl(keys.session(busy.hex))).toBeLessThanOrEqual(
        deadline - Date.now() + GRACE_MS + 50,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(requests).toBeGreaterThan(3);

    await until(deadline + 20);
    // Nobody read the idle one: its filing ended at its deadline; its key waits a grace,
    // unreadable, for the lifetime sweep (none here: nobody listens), then Redis drops it.
    expect(await inspector.pexpiretime(keys.session(idle.hex))).toBeLessThanOrEqual(deadline + GRACE_MS);
    expect(await instance.manager.activeSessions("alice")).toEqual([]);
    expect((await instance.stats.totals()).totalSessions).toBe(0);
    // The busy one is signed out on its next request, whatever the cookie says (60 s rolling).
    expect(await whoAmI(app, busy.cookie)).toBeNull();
    expect(await inspector.exists(keys.session(busy.hex))).toBe(0);
    // And the idle one too, on the read of its cookie (revoked then, with its event).
    expect(await whoAmI(app, idle.cookie)).toBeNull();
    expect(await inspector.exists(keys.session(idle.hex))).toBe(0);
  });

  it("a read that finds a record at its deadline (a clock ahead of Redis's) is a miss, and revokes it: marker left, unlisted, uncounted", async () => {
    const { instance, app, keys } = configured({
      profiles: { long: { absoluteMs: 3_600_000 } },
      default: "long",
    });
    const session = await signIn(app, { userId: "bob" });
    expect(await whoAmI(app, session.cookie)).toBe("bob");
    const heard: RevocationEvent[] = [];
    instance.onRevoked((event) => void heard.push(event));
    await revocationsOf(instance.store).subscribed();
    // The header's deadline (bytes 33–48 of layout 4) set to a moment ago; the TTL is left
    // as it was, as when this process's clock runs ahead of Redis's.
    const past = String(Date.now() - 1).padStart(16, "0");
    await inspector.setrange(keys.session(session.hex), 33, past);
    expect(await whoAmI(app, session.cookie)).toBeNull();
    expect(await inspector.exists(keys.session(session.hex))).toBe(0);
    expect(await inspector.exists(keys.revoked(session.hex))).toBe(1);
    // Every process hears why (the event is published by the revoking script).
    await waitUntil("the lifetime event", async () => (heard.length > 0 ? true : "not yet"), {
      timeoutMs: 5_000,
    });
    expect(heard).toMatchObject([{ reason: "lifetime", userId: "bob", applicationName: "Turtle" }]);
    expect(await instance.manager.activeSessions("bob")).toEqual([]);
    expect((await instance.stats.totals()).totalSessions).toBe(0);
  });

  it("an SSE stream opened by a session closes at its absolute deadline, with no request and no revocation", async () => {
    const { instance } = configured({ profiles: { short: { absoluteMs: SHORT_MS } }, default: "short" });
    const live = await startLiveApp(instance);
    try {
      const { cookie } = await live.login("carol");
      const [listed] = await instance.manager.activeSessions("carol");
      const deadline = listed!.absoluteExpiresAt!.getTime();
      const stream = await openEventStream(live.base, cookie);
      const ended = await within(stream.ended, "the stream's end at the deadline");
      const endedAt = Date.now();
      expect(ended.reason).toBe("deadline");
      expect(endedAt).toBeGreaterThanOrEqual(deadline);
      expect(endedAt - deadline).toBeLessThan(1_000);
    } finally {
      await live.close();
    }
  });

  it("a touch from a process that never read the session (its header unknown) is capped by the stored deadline: TTL, expiry and filing", async () => {
    const { instance, keys, session, deadline } = await signedInForTwoMinutes("erin");
    const client = new Redis(url);
    const other = new RelsRedisStore({ client, namespace: instance.config.redisOptions.namespace });
    try {
      // An hour asked, by a store that read nothing: only the touch script knows the deadline.
      const hour = 3_600_000;
      await other.touch(session.sid, {
        cookie: { originalMaxAge: hour, expires: new Date(Date.now() + hour) },
      } as unknown as SessionData);
      const ttl = await client.pttl(keys.session(session.hex));
      // Extended past the cookie's 60 s the sign-in gave it, up to the deadline (and the sweep's
      // grace) and no further.
      expect(ttl).toBeGreaterThan(COOKIE_MAX_AGE_MS);
      expect(await client.pexpiretime(keys.session(session.hex))).toBe(deadline + GRACE_MS);
      const header = await client.getrange(keys.session(session.hex), 0, 48);
      expect(Number(header.slice(1, 17))).toBe(deadline);
      expect(Number(header.slice(33, 49))).toBe(deadline);
      expect(Number(await client.zscore(keys.userIndex("erin"), session.hex))).toBeLessThanOrEqual(deadline);
    } finally {
      await other.close();
      client.disconnect();
    }
  });

  it("a layout-3 writer (recordLayout: 3, mid-upgrade) cannot carry a session past its deadline: its record keeps the deadline in `_rels`, which every read and touch honours", async () => {
    const { instance, app, keys } = configured({
      profiles: { short: { absoluteMs: SHORT_MS } },
      default: "short",
    });
    const session = await signIn(app, { userId: "gus" });
    const deadline = Date.parse(session.absoluteExpiresAt!);
    const client = new Redis(url);
    const namespace = instance.config.redisOptions.namespace;
    const layout3 = new RelsRedisStore({ client, namespace, recordLayout: 3 });
    const hour = 3_600_000;
    const rolled = () => ({ originalMaxAge: hour, expires: new Date(Date.now() + hour) });
    try {
      // A process still writing layout 3 saves the session (a change of the app's) and touches it.
      const read = (await layout3.get(session.sid))!;
      await layout3.set(session.sid, { ...read, cart: 1, cookie: rolled() } as unknown as SessionData);
      expect((await inspector.getrange(keys.session(session.hex), 0, 0)) as string).toBe("3");
      const again = (await layout3.get(session.sid))!;
      await layout3.touch(session.sid, { ...again, cookie: rolled() } as unknown as SessionData);
      // Redis is never given more than the deadline leaves (and the sweep's grace).
      expect(Date.now() + (await inspector.pttl(keys.session(session.hex)))).toBeLessThanOrEqual(
        deadline + GRACE_MS + 50,
      );
      // A layout-4 process saving it (metadata unchanged) moves it back with its deadline in the header.
      const read4 = (await instance.store.get(session.sid))!;
      await instance.store.set(session.sid, { ...read4, cart: 2 } as unknown as SessionData);
      const header = (await inspector.getrange(keys.session(session.hex), 0, 48)) as string;
      expect(header[0]).toBe("4");
      expect(Number(header.slice(33, 49))).toBe(deadline);
      await layout3.set(session.sid, {
        ...(await layout3.get(session.sid))!,
        cookie: rolled(),
      } as unknown as SessionData);
      await until(deadline + 20);
      // Past it, a read by either store is a miss (the layout-3 record's TTL is put back by hand,
      // as a touch from an older writer that knows no deadline would).
      if ((await inspector.exists(keys.session(session.hex))) === 1) {
        await inspector.pexpire(keys.session(session.hex), hour);
      }
      expect(await layout3.get(session.sid)).toBeNull();
      expect(await whoAmI(app, session.cookie)).toBeNull();
    } finally {
      await layout3.close();
      client.disconnect();
    }
  });

  it("a write or touch whose lifetime ends at the deadline gives Redis the deadline itself (PXAT, plus the sweep's grace), not a TTL counted from a clock read earlier or running behind", async () => {
    const { instance, keys, session, deadline } = await signedInForTwoMinutes("hal");
    const key = keys.session(session.hex);
    const hour = 3_600_000;
    // A touch whose caller read its clock a second before the script ran (a loaded process,
    // a slow network, a clock behind): the script caps at the stored deadline.
    await recordsOf(instance.store).touch(session.hex, hour, Date.now() - 1_000);
    expect(await inspector.pexpiretime(key)).toBe(deadline + GRACE_MS);
    // A save by a process whose clock runs a second behind.
    const read = (await instance.store.get(session.sid))!;
    const real = Date.now.bind(Date);
    const behind = vi.spyOn(Date, "now").mockImplementation(() => real() - 1_000);
    try {
      await instance.store.set(session.sid, {
        ...read,
        cart: 3,
        cookie: { originalMaxAge: hour, expires: new Date(real() + hour) },
      } as unknown as SessionData);
    } finally {
      behind.mockRestore();
    }
    expect(await inspector.pexpiretime(key)).toBe(deadline + GRACE_MS);
  });

  it("mid-migration (mirrorWrites, legacyFallback): the plain-sid copy ends at the deadline too, and is never read past it", async () => {
    const namespace = `t-life-${randomUUID()}`;
    const client = new Redis(url);
    const store = new RelsRedisStore({ client, namespace, mirrorWrites: true, legacyFallback: true });
    const manager = new RelsSessionsManager({
      store,
      applicationName: "Turtle",
      lifetimes: { profiles: { short: { absoluteMs: SHORT_MS } }, default: "short" },
    });
    const keys = keysOf(store);
    try {
      const sid = newSid();
      await store.set(sid, await signedInSession(manager, sid, "ida"));
      const deadline = Date.parse(
        String((await manager.activeSessions("ida"))[0]!.absoluteExpiresAt!.toISOString()),
      );
      // The plain copy (what an older process reads) is given no more than the deadline leaves.
      expect(Date.now() + (await client.pttl(keys.legacy(sid)))).toBeLessThanOrEqual(deadline + 50);
      // Were it longer (a copy written by an older process), a read past the deadline still misses.
      await client.pexpire(keys.legacy(sid), 3_600_000);
      await until(deadline + 20);
      expect(await store.get(sid)).toBeNull();
      expect(await client.exists(keys.session(sha256(sid)))).toBe(0);
    } finally {
      await store.close();
      client.disconnect();
      await deleteNamespace(url, namespace);
    }
  });

  it("profiles: the default, one named at sign-in, the platform's; an idle timeout sets the cookie's lifetime; an unknown name is an error", async () => {
    const { instance, app, keys } = configured({
      profiles: {
        browser: { absoluteMs: 12 * 3_600_000, idleMs: 1_800_000 },
        rememberMe: { absoluteMs: 30 * 86_400_000 },
        mobile: { absoluteMs: 90 * 86_400_000 },
      },
      default: "browser",
      platforms: { ios_app: "mobile", android_app: "mobile" },
    });
    const lifetimeOf = (s: { absoluteExpiresAt: string | null; signInAt: number }) =>
      Date.parse(s.absoluteExpiresAt!) - s.signInAt;

    const browser = await signIn(app, { userId: "carol" }, { "User-Agent": UA.linuxChrome });
    expect(lifetimeOf(browser)).toBe(12 * 3_600_000);
    // idleMs: the cookie's maxAge (and Redis's TTL) is 30 minutes, not the app's 60 s.
    const browserTtl = await inspector.pttl(keys.session(browser.hex));
    expect(browserTtl).toBeGreaterThan(COOKIE_MAX_AGE_MS);
    expect(browserTtl).toBeLessThanOrEqual(1_800_000);

    const remembered = await signIn(
      app,
      { userId: "carol", lifetime: "rememberMe" },
      { "User-Agent": UA.linuxChrome },
    );
    expect(lifetimeOf(remembered)).toBe(30 * 86_400_000);
    // No idleMs: the cookie's own lifetime stands.
    expect(await inspector.pttl(keys.session(remembered.hex))).toBeLessThanOrEqual(COOKIE_MAX_AGE_MS);

    const phone = await signIn(
      app,
      { userId: "carol" },
      { "User-Agent": UA.appIphone, AppVersion: "5.12.0" },
    );
    expect(lifetimeOf(phone)).toBe(90 * 86_400_000);
    // A name given wins over the platform's.
    const named = await signIn(
      app,
      { userId: "carol", lifetime: "browser" },
      { "User-Agent": UA.appIphone, AppVersion: "5.12.0" },
    );
    expect(lifetimeOf(named)).toBe(12 * 3_600_000);

    // The deadline counts from the signInAt given, not from now.
    const earlier = Date.now() - 3_600_000;
    const late = await signIn(app, { userId: "carol", signInAtMs: earlier });
    expect(Date.parse(late.absoluteExpiresAt!)).toBe(earlier + 12 * 3_600_000);

    const listed = await instance.manager.activeSessions("carol");
    expect(new Map(listed.map((s) => [s.sessionId, s.absoluteExpiresAt?.toISOString()]))).toEqual(
      new Map(
        [browser, remembered, phone, named, late].map((s) => [
          instance.manager.sessionIdOf({ sessionID: s.sid }),
          s.absoluteExpiresAt,
        ]),
      ),
    );

    const unknown = await request(app)
      .post("/login")
      .send({ userId: "carol", lifetime: "forever" })
      .expect(500);
    expect(unknown.body).toMatchObject({ error: "RelsSessionError" });
    expect(unknown.body.message).toContain('Unknown lifetime profile "forever"');
    expect(unknown.body.message).toContain("browser, rememberMe, mobile");
  });

  it("without lifetimes, nothing changes: no deadline in the header or the listing, an unknown profile name is an error", async () => {
    const { instance, app, keys } = configured(undefined);
    const session = await signIn(app, { userId: "dave" });
    expect(session.absoluteExpiresAt).toBeNull();
    const raw = await inspector.getrange(keys.session(session.hex), 0, 48);
    expect(raw.slice(33, 49)).toBe("0".repeat(16));
    expect(await inspector.pttl(keys.session(session.hex))).toBeGreaterThan(COOKIE_MAX_AGE_MS - 5_000);
    const [listed] = await instance.manager.activeSessions("dave");
    expect(listed?.absoluteExpiresAt).toBeNull();
    const res = await request(app)
      .post("/login")
      .send({ userId: "dave", lifetime: "rememberMe" })
      .expect(500);
    expect(res.body.message).toContain("no sessions.lifetimes");
  });
});

describe("lifetime events without a read (the lifetime sweep)", () => {
  const SWEEP_MS = TUNABLES.record.sweepIntervalMs;

  /** Two instances on one namespace (two processes of one app), sessions of these profiles. */
  function twoProcesses(profiles: Record<string, { absoluteMs: number; idleMs?: number }>) {
    const lifetimes = { profiles, default: Object.keys(profiles)[0]! };
    const first = configured(lifetimes);
    const namespace = first.instance.config.redisOptions.namespace;
    const instance = createRelsSession(
      { applicationName: "Turtle", redisOptions: { url, namespace }, sessions: { lifetimes } },
      { env: {} },
    );
    instances.push({ instance, namespace });
    return { ...first, other: instance };
  }

  /** One sweep of `instance`'s own, now (waiting out one that holds the scope's lock). */
  async function sweepNow(instance: RelsSessionInstance): Promise<number> {
    let revoked: number | undefined;
    await waitUntil(
      "a sweep of its own",
      async () => {
        revoked = await revocationsOf(instance.store).lifetimeSweep.sweep();
        return revoked === undefined ? "another process holds the sweep lock" : true;
      },
      { timeoutMs: 5_000 },
    );
    return revoked!;
  }

  it("a session nobody reads is revoked at its deadline with one `lifetime` event, heard by another process; gone from Redis, the index and the totals; a second sweeper publishes nothing more", async () => {
    const { instance, app, keys, other } = twoProcesses({ short: { absoluteMs: 1_500 } });
    // Both processes listen: both sweep (one at a time), and each hears every event.
    const heardHere: RevocationEvent[] = [];
    const heardThere: RevocationEvent[] = [];
    instance.onRevoked((event) => void heardHere.push(event));
    other.onRevoked((event) => void heardThere.push(event));
    await Promise.all([revocationsOf(instance.store).subscribed(), revocationsOf(other.store).subscribed()]);
    const session = await signIn(app, { userId: "kim" });
    const deadline = Date.parse(session.absoluteExpiresAt!);
    expect((await instance.stats.totals()).totalSessions).toBe(1);

    // Nobody reads it again. The event comes by itself, a sweep interval after the deadline at most.
    await waitUntil(
      "the lifetime event in the other process",
      async () => (heardThere.length > 0 ? true : `none yet, ${Date.now() - deadline} ms past the deadline`),
      { timeoutMs: deadline - Date.now() + SWEEP_MS + 1_000 },
    );
    const expected = {
      reason: "lifetime",
      userId: "kim",
      sessionId: sessionHandle(session.hex),
      applicationName: "Turtle",
    };
    expect(heardThere).toEqual([expected]);
    expect(Date.now()).toBeGreaterThanOrEqual(deadline);
    // Revoked as any revocation: record gone, marker left, unlisted, uncounted.
    expect(await inspector.exists(keys.session(session.hex))).toBe(0);
    expect(await inspector.exists(keys.revoked(session.hex))).toBe(1);
    expect(await inspector.zscore(keys.userIndex("kim"), session.hex)).toBeNull();
    expect(await instance.manager.activeSessions("kim")).toEqual([]);
    expect((await instance.stats.totals()).totalSessions).toBe(0);
    // Both sweepers again (and the timers meanwhile): nothing more is published.
    expect(await sweepNow(instance)).toBe(0);
    expect(await sweepNow(other)).toBe(0);
    await waitUntil(
      "this process's copy of the one event",
      async () => (heardHere.length > 0 ? true : "not yet"),
      {
        timeoutMs: 5_000,
      },
    );
    expect(heardHere).toEqual([expected]);
    expect(heardThere).toEqual([expected]);
    // Its cookie, used now, is no session.
    expect(await whoAmI(app, session.cookie)).toBeNull();
  });

  it("a session that expired by its idle timeout before its deadline publishes nothing; one read past its deadline publishes once, not again by the sweep", async () => {
    const { instance, app, keys } = twoProcesses({
      idle: { absoluteMs: 2_000, idleMs: 1_000 },
      short: { absoluteMs: 1_500 },
    });
    const heard: RevocationEvent[] = [];
    instance.onRevoked((event) => void heard.push(event));
    await revocationsOf(instance.store).subscribed();
    const idle = await signIn(app, { userId: "lou" });
    const idleDeadline = Date.parse(idle.absoluteExpiresAt!);

    // The idle one: gone by its TTL (1 s) before its deadline; swept after the deadline.
    await until(idleDeadline + 20);
    expect(await inspector.exists(keys.session(idle.hex))).toBe(0);
    expect(await sweepNow(instance)).toBe(0);
    const listed = await Promise.all(
      keys.statsShards().map((shard) => inspector.zscore(shard.deadlines, idle.hex)),
    );
    expect(listed.every((score) => score === null)).toBe(true);

    // Another, read past its deadline (within the grace): revoked once, with one event, whether
    // the read or a sweep gets there first.
    const read = await signIn(app, { userId: "lou", lifetime: "short" });
    await until(Date.parse(read.absoluteExpiresAt!) + 20);
    expect(await instance.store.get(read.sid)).toBeNull();
    await waitUntil("the read's lifetime event", async () => (heard.length > 0 ? true : "not yet"), {
      timeoutMs: 5_000,
    });
    expect(await sweepNow(instance)).toBe(0);
    expect(heard).toEqual([
      { reason: "lifetime", userId: "lou", sessionId: sessionHandle(read.hex), applicationName: "Turtle" },
    ]);
  });
});
