/**
 * The SessionsManager contract: per-user session management end to end, through a real
 * express app, express-session, supertest agents (one per "device") and a real Redis.
 *
 * Written against the store's own APIs only (`sourceOf(store).run` per key, `keysOf(store)`,
 * `store.scanSessions`), so the same suite runs unchanged on a Redis Cluster store:
 * nothing here assumes a single server (no KEYS, no FLUSH, no multi-key command outside one
 * hash tag).
 *
 * What `setup` must give: a fresh store (its own namespace: the suite counts every session
 * and stat under it) and a manager on it with the default `lastSeenInterval` (or one of at
 * least a few seconds) and no `maxSessionsPerUser`. Tests that need other manager settings
 * build their own `RelsSessionsManager` on the same store.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import type express from "express";
import type { NextFunction, Request, Response } from "express";
import request from "supertest";
import { describe, expect, it, onTestFinished } from "vitest";
import { privateHex, sessionHandle } from "../../src/ids.js";
import { RelsSessionsManager, type ActiveSession, type RecordOptions } from "../../src/users/manager.js";
import { CLIENT_PLATFORMS, type ClientPlatform, type SessionKeyType, type SessionMeta } from "../../src/users/meta.js";
import type { RedisClient } from "../../src/redis/pool.js";
import { SessionStats, type StatsTotals } from "../../src/stats/stats.js";
import type { RelsRedisStore } from "../../src/express/store.js";
import { streamSessions } from "../../src/users/stream.js";
import { UserSessions } from "../../src/users/user-sessions.js";
import { destroy, regenerate, sessionApp } from "./express-app.js";
import { keysOf, scanOf, sourceOf } from "./internals.js";
import { recordsOf } from "../../src/express/store.js";
import { META_DEFAULTS } from "./session-meta.js";
import { UA } from "./user-agents.js";

export interface ManagerContractTarget {
  store: RelsRedisStore;
  manager: RelsSessionsManager;
  /** The manager's `applicationName`, when the caller knows it: then it is asserted too. */
  applicationName?: string;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Devices: what each client sends on every request
// ---------------------------------------------------------------------------------------------

type Headers = Readonly<Record<string, string>>;

const IOS_APP: Headers = {
  "user-agent": "Turtle/5.12.0 (com.example.turtle; build:5120; iOS 17.4.1) Alamofire/5.9.1",
  appversion: "5.12.0",
  "x-installation-id": "8F14E45F-CEEA-467F-A0E6-1E3E2D5B4C6A",
  "x-device": "iPhone15,2",
  "x-course-id": "course-ios-42",
  "x-forwarded-for": "203.0.113.10",
};

const ANDROID_APP: Headers = {
  "user-agent": UA.okhttp,
  appversion: "5.11.3",
  "x-device": "Pixel 8",
  "x-course-id": "course-android-7",
  "x-forwarded-for": "198.51.100.7",
};

const DESKTOP_WEB: Headers = {
  "user-agent": UA.windowsChrome,
  "x-forwarded-for": "192.0.2.33",
};

const OTHER_WEB: Headers = {
  "user-agent": UA.linuxFirefox,
  "x-forwarded-for": "192.0.2.99",
};

/** What each device of the fixture must be listed with. */
const EXPECTED = {
  ios: {
    clientPlatform: "ios_app",
    sessionKeyType: "token",
    ip: "203.0.113.10",
    userAgent: IOS_APP["user-agent"],
    appVersion: "5.12.0",
    installationId: "8F14E45F-CEEA-467F-A0E6-1E3E2D5B4C6A",
    device: "iPhone15,2",
    courseId: "course-ios-42",
  },
  android: {
    clientPlatform: "android_app",
    sessionKeyType: "token",
    ip: "198.51.100.7",
    userAgent: UA.okhttp,
    appVersion: "5.11.3",
    installationId: null,
    device: "Pixel 8",
    courseId: "course-android-7",
  },
  web: {
    clientPlatform: "web",
    sessionKeyType: "cookie",
    ip: "192.0.2.33",
    userAgent: UA.windowsChrome,
    appVersion: null,
    installationId: null,
    device: null,
    courseId: null,
  },
} as const;

const TWO_HOURS = 2 * 3_600_000;
const IOS_SIGN_IN = new Date("2024-03-04T05:06:07.000Z");

/**
 * Rewrite a device's session as 0.1 stored it (layout 2: a hash of payload `d`, expiry `e`,
 * meta `m`, index `u`, bucket `b`), with its metadata replaced by `metaJson` as given.
 */
async function storeAsLayout2(h: Harness, device: Device, metaJson: string): Promise<void> {
  const keys = keysOf(h.store);
  const key = keys.session(device.hex);
  const { _rels: current, ...rest } = (await h.store.get(device.sid)) as unknown as Record<string, unknown>;
  const link = current as Pick<SessionMeta, "userId" | "applicationName" | "clientPlatform">;
  const payload = `${JSON.stringify(rest).slice(0, -1)},"_rels":${metaJson}}`;
  const record = await recordsOf(h.store).read(device.hex);
  const expiresAt = record && typeof record === "object" ? record.header.expiresAt! : 0;
  await h.redis((c) => c.del(key));
  await h.redis((c) =>
    c.hset(key, {
      d: payload,
      e: String(expiresAt),
      m: metaJson,
      u: keys.userIndex(link.userId),
      b: keys.statsBucket(link.applicationName, link.clientPlatform),
    }),
  );
  await h.redis((c) => c.pexpireat(key, expiresAt));
}

/** An index entry with no session behind it (what a crash on Cluster can leave). */
async function addIndexEntry(store: RelsRedisStore, user: string, hex: string, expiresAt: Date): Promise<void> {
  const index = keysOf(store).userIndex(user);
  await sourceOf(store).run((c) => c.zadd(index, expiresAt.getTime(), hex));
}

// ---------------------------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------------------------

const USER_FIELD = "contractUserId";

function userOf(req: Request): string | undefined {
  const value = (req.session as unknown as Record<string, unknown> | undefined)?.[USER_FIELD];
  return typeof value === "string" ? value : undefined;
}

function setUser(req: Request, userId: string): void {
  (req.session as unknown as Record<string, unknown>)[USER_FIELD] = userId;
}

/** The JSON body, else the query string (what `Device.login` sends: see there). */
function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (body !== null && typeof body === "object" && Object.keys(body).length > 0) return body as Record<string, unknown>;
  return { ...(req.query as Record<string, unknown>) };
}

function recordOptions(body: Record<string, unknown>): RecordOptions {
  const options: RecordOptions = {};
  if (typeof body.expiresAfter === "number" || typeof body.expiresAfter === "string") options.expiresAfter = Number(body.expiresAfter);
  if (typeof body.signInAt === "string") options.signInAt = new Date(body.signInAt);
  if (body.sessionKeyType === "cookie" || body.sessionKeyType === "token") options.sessionKeyType = body.sessionKeyType;
  return options;
}

interface AppOptions {
  /** Mount `manager.trackSessions({ getUser })` after express-session. */
  track?: boolean;
}

function buildApp(store: RelsRedisStore, manager: RelsSessionsManager, options: AppOptions = {}): express.Express {
  const app = sessionApp(store);
  // Each device names its own address in X-Forwarded-For; req.ip follows it.
  app.set("trust proxy", true);
  if (options.track) {
    app.use(manager.trackSessions({ getUser: async (req) => userOf(req) ?? null, expiresAfter: TWO_HOURS }));
  }

  const signedIn = (req: Request, res: Response): string | undefined => {
    const userId = userOf(req);
    if (userId === undefined) res.status(401).json({ user: null, sessions: [] });
    return userId;
  };

  app.post("/login", async (req, res) => {
    const body = bodyOf(req);
    const userId = String(body.userId);
    await regenerate(req);
    setUser(req, userId);
    const meta = await manager.recordAuthenticatedRequest(userId, req, recordOptions(body));
    res.json({ sid: req.sessionID, meta });
  });
  /** Records again without signing in anew (what an app does on each authenticated request). */
  app.post("/record", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    res.json({ meta: await manager.recordAuthenticatedRequest(userId, req, recordOptions(bodyOf(req))) });
  });
  app.get("/account", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    await manager.recordAuthenticatedRequest(userId, req);
    res.json({ user: userId, sessions: await manager.activeSessions(userId, { current: req }) });
  });
  app.post("/sessions/revoke", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    res.json({ revoked: await manager.logoutSession(userId, String(bodyOf(req).sessionId)) });
  });
  app.post("/sessions/revoke-many", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    const ids = bodyOf(req).sessionIds;
    res.json({ count: await manager.logoutSessions(userId, Array.isArray(ids) ? ids.map(String) : []) });
  });
  app.post("/sessions/revoke-all", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    res.json({ count: await manager.logoutAllSessions(userId) });
  });
  app.post("/sessions/revoke-others", async (req, res) => {
    const userId = signedIn(req, res);
    if (userId === undefined) return;
    res.json({ count: await manager.logoutOtherSessions(userId, req) });
  });
  app.post("/logout", async (req, res) => {
    await destroy(req);
    res.json({ ok: true });
  });
  app.post("/regenerate", async (req, res) => {
    await regenerate(req);
    res.json({ ok: true });
  });
  /** An anonymous session: saved (it changed), never recorded. */
  app.post("/visit", (req, res) => {
    const data = req.session as unknown as Record<string, unknown>;
    data.visits = Number(data.visits ?? 0) + 1;
    res.json({ sid: req.sessionID });
  });
  /** Signs in without recording (for the trackSessions middleware to pick up). */
  app.post("/set-user", (req, res) => {
    setUser(req, String(bodyOf(req).userId));
    res.json({ sid: req.sessionID });
  });
  app.get("/ping", (req, res) => {
    res.json({ user: userOf(req) ?? null });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  });
  return app;
}

async function serve(app: express.Express): Promise<{ base: string; close(): Promise<void> }> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// A device: its own supertest agent (cookie jar) and headers
// ---------------------------------------------------------------------------------------------

type Agent = ReturnType<typeof request.agent>;
interface HttpReply {
  status: number;
  text: string;
  body: unknown;
}

const DATE_FIELDS = ["signInAt", "lastSeenAt", "createdAt", "expiresAt"] as const;

function parseMeta<T extends SessionMeta = SessionMeta>(raw: unknown): T {
  const record = { ...(raw as Record<string, unknown>) };
  for (const field of DATE_FIELDS) record[field] = new Date(String(record[field]));
  return record as unknown as T;
}

interface Account {
  status: number;
  user: string | null;
  sessions: ActiveSession[];
  text: string;
}

interface LoginOptions {
  expiresAfter?: number;
  signInAt?: Date;
  sessionKeyType?: SessionKeyType;
}

class Device {
  readonly #agent: Agent;
  #headers: Headers;
  #sid: string | undefined;
  #meta: SessionMeta | undefined;
  /** Client clock around the last sign-in. */
  loginStartedAt = 0;
  loginEndedAt = 0;

  constructor(base: string, headers: Headers) {
    this.#agent = request.agent(base);
    this.#headers = headers;
  }

  /** What the client sends from now on (say, after an app update). */
  setHeaders(headers: Headers): void {
    this.#headers = { ...this.#headers, ...headers };
  }

  get sid(): string {
    if (this.#sid === undefined) throw new Error("this device has no session yet");
    return this.#sid;
  }

  get hex(): string {
    return privateHex(this.sid);
  }

  /** Metadata as the sign-in returned it. */
  get meta(): SessionMeta {
    if (this.#meta === undefined) throw new Error("this device has not signed in");
    return this.#meta;
  }

  get handle(): string {
    return this.meta.sessionId;
  }

  /**
   * Signs in with the parameters in the query string and no body: Node's HTTP client sends
   * the head of a request with a string body in the body's encoding (UTF-8), so header
   * bytes past 0x7f would not arrive as a client sends them (latin1) on a request with one.
   */
  async login(userId: string, options: LoginOptions = {}): Promise<SessionMeta> {
    this.loginStartedAt = Date.now();
    const query = {
      userId,
      ...(options.expiresAfter === undefined ? {} : { expiresAfter: String(options.expiresAfter) }),
      ...(options.signInAt === undefined ? {} : { signInAt: options.signInAt.toISOString() }),
      ...(options.sessionKeyType === undefined ? {} : { sessionKeyType: options.sessionKeyType }),
    };
    const res = await this.#send(this.#agent.post("/login").query(query));
    expectOk("POST /login", res);
    const body = res.body as Record<string, unknown>;
    this.#sid = String(body.sid);
    this.loginEndedAt = Date.now();
    this.#meta = parseMeta(body.meta);
    return this.#meta;
  }

  async record(options: { signInAt?: Date } = {}): Promise<SessionMeta> {
    const body = await this.post("/record", options.signInAt ? { signInAt: options.signInAt.toISOString() } : {});
    return parseMeta(body.meta);
  }

  async account(): Promise<Account> {
    const res = await this.#send(this.#agent.get("/account"));
    if (res.status === 401) return { status: 401, user: null, sessions: [], text: res.text };
    expectOk("GET /account", res);
    const body = res.body as { user: string; sessions: unknown[] };
    return { status: res.status, user: body.user, sessions: body.sessions.map((s) => parseMeta<ActiveSession>(s)), text: res.text };
  }

  async get(path: string): Promise<Record<string, unknown>> {
    const res = await this.#send(this.#agent.get(path));
    expectOk(`GET ${path}`, res);
    return res.body as Record<string, unknown>;
  }

  async post(path: string, body: object = {}): Promise<Record<string, unknown>> {
    const res = await this.#send(this.#agent.post(path).send(body));
    expectOk(`POST ${path}`, res);
    const reply = res.body as Record<string, unknown>;
    if (typeof reply.sid === "string") this.#sid = reply.sid;
    return reply;
  }

  async #send(req: ReturnType<Agent["get"]>): Promise<HttpReply> {
    const res = await req.set(this.#headers);
    return { status: res.status, text: res.text, body: res.body as unknown };
  }
}

function expectOk(what: string, res: HttpReply): void {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${res.text}`);
}

// ---------------------------------------------------------------------------------------------
// The harness: one target, one app server, Redis helpers (per key, Cluster-safe)
// ---------------------------------------------------------------------------------------------

interface Harness extends ManagerContractTarget {
  stats: SessionStats;
  base: string;
  /** Serve another app (say, with another manager on the same store); returns its base URL. */
  serve(manager: RelsSessionsManager, options?: AppOptions): Promise<string>;
  device(headers: Headers, base?: string): Device;
  redis<T>(operation: (client: RedisClient) => Promise<T>): Promise<T>;
  /** Raw ZRANGE of the user's index: no pruning on the way. */
  indexMembers(userId: string): Promise<string[]>;
  /** Raw ZRANGE of the stats bucket the session was counted in. */
  bucketMembers(meta: Pick<SessionMeta, "applicationName" | "clientPlatform">): Promise<string[]>;
  sessionExists(hex: string): Promise<boolean>;
  sessionKeys(): Promise<string[]>;
}

async function openHarness(setup: () => Promise<ManagerContractTarget>): Promise<Harness> {
  const target = await setup();
  const servers: Array<() => Promise<void>> = [];
  onTestFinished(async () => {
    for (const close of servers.reverse()) await close();
    await target.close();
  });
  const { store } = target;
  const startApp = async (manager: RelsSessionsManager, options: AppOptions = {}) => {
    const server = await serve(buildApp(store, manager, options));
    servers.push(server.close);
    return server.base;
  };
  const base = await startApp(target.manager);
  const redis = <T>(operation: (client: RedisClient) => Promise<T>) => sourceOf(store).run(operation);
  return {
    ...target,
    stats: new SessionStats(store),
    base,
    serve: startApp,
    device: (headers, at = base) => new Device(at, headers),
    redis,
    indexMembers: (userId) => redis((c) => c.zrange(keysOf(store).userIndex(userId), 0, -1)),
    bucketMembers: (meta) =>
      redis((c) => c.zrange(keysOf(store).statsBucket(meta.applicationName, meta.clientPlatform), 0, -1)),
    sessionExists: async (hex) => (await redis((c) => c.exists(keysOf(store).session(hex)))) === 1,
    sessionKeys: async () => {
      const keys: string[] = [];
      for await (const hexes of scanOf(store)) keys.push(...hexes.map((hex) => keysOf(store).session(hex)));
      return keys;
    },
  };
}

/** Poll `check` until it holds; fail with `what` past the deadline. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}

/** Poll the clock until it is past `ms`. */
function clockPast(ms: number): Promise<void> {
  return waitFor(`the clock to pass ${new Date(ms).toISOString()}`, () => Date.now() > ms);
}

interface ThreeDevices {
  ios: Device;
  android: Device;
  web: Device;
}

/** iOS app, Android app, desktop browser: signed in in that order, a few ms apart. */
async function signInThreeDevices(h: Harness, userId: string, base = h.base): Promise<ThreeDevices> {
  const ios = h.device(IOS_APP, base);
  const android = h.device(ANDROID_APP, base);
  const web = h.device(DESKTOP_WEB, base);
  await ios.login(userId, { expiresAfter: TWO_HOURS, sessionKeyType: "token", signInAt: IOS_SIGN_IN });
  await clockPast(ios.meta.lastSeenAt.getTime() + 2);
  await android.login(userId, { expiresAfter: TWO_HOURS, sessionKeyType: "token" });
  await clockPast(android.meta.lastSeenAt.getTime() + 2);
  await web.login(userId, { expiresAfter: TWO_HOURS });
  return { ios, android, web };
}

/** The device's session is live: key, index entry, stats entry, and its next request is signed in. */
async function expectSignedIn(h: Harness, device: Device, userId: string): Promise<void> {
  expect(await h.sessionExists(device.hex), "session key").toBe(true);
  expect(await h.indexMembers(userId), "user index").toContain(device.hex);
  expect(await h.bucketMembers(device.meta), "stats bucket").toContain(device.hex);
  const account = await device.account();
  expect(account.status).toBe(200);
  expect(account.user).toBe(userId);
  expect(account.sessions.filter((s) => s.current).map((s) => s.sessionId)).toEqual([device.handle]);
}

/** The device's session is gone everywhere, without any reconcile, and its next request has no user. */
async function expectEnded(h: Harness, device: Device, userId: string): Promise<void> {
  expect(await h.sessionExists(device.hex), "session key").toBe(false);
  expect(await h.indexMembers(userId), "user index").not.toContain(device.hex);
  expect(await h.bucketMembers(device.meta), "stats bucket").not.toContain(device.hex);
  const account = await device.account();
  expect(account.status).toBe(401);
  expect(account.user).toBeNull();
}

async function totalSessions(h: Harness): Promise<number> {
  return (await h.stats.totals()).totalSessions;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

function codePoints(value: string | null): number {
  return value === null ? 0 : [...value].length;
}

function newUser(label = "user"): string {
  return `${label}-${randomUUID()}`;
}

const emptyByPlatform = (): Record<ClientPlatform, number> =>
  Object.fromEntries(CLIENT_PLATFORMS.map((p) => [p, 0])) as Record<ClientPlatform, number>;

// ---------------------------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------------------------

export function describeManagerContract(name: string, setup: () => Promise<ManagerContractTarget>): void {
  describe(`SessionsManager contract: ${name}`, () => {
    describe("activeSessions", () => {
      it("lists an iOS app, an Android app and a desktop browser with their metadata; only the current one is marked", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const devices = await signInThreeDevices(h, user);
        const { ios, android, web } = devices;

        const account = await ios.account();
        expect(account.status).toBe(200);
        expect(account.user).toBe(user);
        const sessions = account.sessions;
        expect(sessions).toHaveLength(3);

        const applicationName = ios.meta.applicationName;
        expect(applicationName).not.toBe("");
        if (h.applicationName !== undefined) expect(applicationName).toBe(h.applicationName);

        for (const [label, device] of Object.entries(devices) as Array<[keyof ThreeDevices, Device]>) {
          const listed = sessions.find((s) => s.sessionId === device.handle);
          expect(listed, `${label} is listed`).toBeDefined();
          const s = listed!;
          expect(s, label).toMatchObject({ ...EXPECTED[label], userId: user, applicationName, current: label === "ios" });

          // Timestamps: created at its sign-in; not seen since (the interval has not passed).
          for (const field of ["createdAt", "lastSeenAt"] as const) {
            expect(s[field].getTime(), `${label}.${field}`).toBeGreaterThanOrEqual(device.loginStartedAt);
            expect(s[field].getTime(), `${label}.${field}`).toBeLessThanOrEqual(device.loginEndedAt);
          }
          if (label === "ios") {
            expect(s.signInAt.toISOString()).toBe(IOS_SIGN_IN.toISOString());
          } else {
            expect(s.signInAt.getTime(), `${label}.signInAt`).toBeGreaterThanOrEqual(device.loginStartedAt);
            expect(s.signInAt.getTime(), `${label}.signInAt`).toBeLessThanOrEqual(device.loginEndedAt);
          }

          // expiresAt ≈ sign-in + expiresAfter, and what Redis's TTL says, within a second.
          expect(s.expiresAt.getTime()).toBeGreaterThanOrEqual(device.loginStartedAt + TWO_HOURS - 1000);
          expect(s.expiresAt.getTime()).toBeLessThanOrEqual(device.loginEndedAt + TWO_HOURS + 1000);
          const pttl = await h.redis((c) => c.pttl(keysOf(h.store).session(device.hex)));
          expect(pttl).toBeGreaterThan(0);
          expect(Math.abs(s.expiresAt.getTime() - (Date.now() + pttl)), `${label}: expiresAt vs PTTL`).toBeLessThan(1000);

          // The handle is neither the cookie's sid nor the Redis private id.
          expect(s.sessionId).not.toBe(device.sid);
          expect(s.sessionId).not.toBe(device.hex);
          expect(s.sessionId).not.toBe(`2::${device.hex}`);
          expect(device.sid).not.toContain(s.sessionId);
          expect(device.hex).not.toContain(s.sessionId);
          expect(account.text).not.toContain(device.sid);
          expect(account.text).not.toContain(device.hex);
        }
        expect(new Set(sessions.map((s) => s.sessionId)).size).toBe(3);

        // Only the requester's session is current; newest lastSeenAt first.
        expect(sessions.filter((s) => s.current).map((s) => s.sessionId)).toEqual([ios.handle]);
        expect(sessions.map((s) => s.sessionId)).toEqual([web.handle, android.handle, ios.handle]);
        for (let i = 1; i < sessions.length; i++) {
          expect(sessions[i - 1]!.lastSeenAt.getTime()).toBeGreaterThanOrEqual(sessions[i]!.lastSeenAt.getTime());
        }

        // Seen from the other devices, "current" follows the requester.
        for (const device of [android, web]) {
          const seen = await device.account();
          expect(seen.sessions.filter((s) => s.current).map((s) => s.sessionId)).toEqual([device.handle]);
          expect(seen.sessions).toHaveLength(3);
        }

        // Without a request, nothing is current, and the same sessions come out of Redis.
        const direct = await h.manager.activeSessions(user);
        expect(direct.map((s) => s.sessionId)).toEqual([web.handle, android.handle, ios.handle]);
        expect(direct.every((s) => !s.current)).toBe(true);
      });

      it("keeps signInAt from the first record unless a new one is given", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const web = h.device(DESKTOP_WEB);
        const first = await web.login(user, { expiresAfter: TWO_HOURS });
        const signInAt = first.signInAt.getTime();
        expect(signInAt).toBeGreaterThanOrEqual(web.loginStartedAt);
        expect(signInAt).toBeLessThanOrEqual(web.loginEndedAt);

        await clockPast(signInAt + 5);
        expect((await web.record()).signInAt.getTime()).toBe(signInAt);
        const [persisted] = await h.manager.activeSessions(user);
        expect(persisted?.signInAt.getTime()).toBe(signInAt);

        const again = new Date("2025-01-02T03:04:05.000Z");
        expect((await web.record({ signInAt: again })).signInAt.toISOString()).toBe(again.toISOString());
        expect((await h.manager.activeSessions(user))[0]?.signInAt.toISOString()).toBe(again.toISOString());
        // …and kept again by later records that give none, even those that change other fields.
        expect((await web.record()).signInAt.toISOString()).toBe(again.toISOString());
        web.setHeaders({ "x-course-id": "course-switched" });
        const switched = await web.record();
        expect(switched.courseId).toBe("course-switched");
        expect(switched.signInAt.toISOString()).toBe(again.toISOString());
        expect((await h.manager.activeSessions(user))[0]).toMatchObject({ courseId: "course-switched", signInAt: again });
        const account = await web.account();
        expect(account.sessions.map((s) => s.signInAt.toISOString())).toEqual([again.toISOString()]);
        expect(account.sessions[0]?.createdAt.getTime()).toBe(first.createdAt.getTime());
      });

      it("refreshes lastSeenAt only once lastSeenInterval has passed", async () => {
        const h = await openHarness(setup);
        const interval = 300;
        const manager = new RelsSessionsManager({ store: h.store, applicationName: "ContractApp", lastSeenInterval: interval });
        const base = await h.serve(manager);
        const user = newUser();
        const ios = h.device(IOS_APP, base);
        const signedIn = await ios.login(user, { expiresAfter: TWO_HOURS });
        expect(signedIn.applicationName).toBe("ContractApp");
        const seen0 = signedIn.lastSeenAt.getTime();

        // Within the interval: neither the request's view nor Redis moves.
        expect((await ios.record()).lastSeenAt.getTime()).toBe(seen0);
        expect((await manager.activeSessions(user))[0]?.lastSeenAt.getTime()).toBe(seen0);

        await clockPast(seen0 + interval);
        const refreshed = await ios.record();
        const seen1 = refreshed.lastSeenAt.getTime();
        expect(seen1).toBeGreaterThanOrEqual(seen0 + interval);
        expect(refreshed.createdAt.getTime()).toBe(signedIn.createdAt.getTime());
        expect(refreshed.signInAt.getTime()).toBe(signedIn.signInAt.getTime());
        const [persisted] = await manager.activeSessions(user);
        expect(persisted?.lastSeenAt.getTime()).toBe(seen1);

        // Right after a refresh, the next request does not move it again.
        expect((await ios.record()).lastSeenAt.getTime()).toBe(seen1);
        expect((await manager.activeSessions(user))[0]?.lastSeenAt.getTime()).toBe(seen1);
      });
    });

    describe("revoking", () => {
      /** Three devices of `user`, and one device of another user, `other`. */
      async function revokeFixture(h: Harness) {
        const user = newUser();
        const other = newUser("other");
        const devices = await signInThreeDevices(h, user);
        const otherWeb = h.device(OTHER_WEB);
        await otherWeb.login(other, { expiresAfter: TWO_HOURS });
        expect(await totalSessions(h)).toBe(4);
        return { user, other, otherWeb, ...devices };
      }

      it("logoutSession(user, handle) ends that session only; another user's handle revokes nothing", async () => {
        const h = await openHarness(setup);
        const { user, other, otherWeb, ios, android, web } = await revokeFixture(h);

        expect(await ios.post("/sessions/revoke", { sessionId: android.handle })).toEqual({ revoked: true });
        await expectEnded(h, android, user);
        await expectSignedIn(h, ios, user);
        await expectSignedIn(h, web, user);
        expect((await ios.account()).sessions.map((s) => s.sessionId).sort()).toEqual([ios.handle, web.handle].sort());
        expect(await totalSessions(h)).toBe(3);

        // Again: already gone. Another user's handle: nothing happens to it.
        expect(await ios.post("/sessions/revoke", { sessionId: android.handle })).toEqual({ revoked: false });
        expect(await ios.post("/sessions/revoke", { sessionId: otherWeb.handle })).toEqual({ revoked: false });
        expect(await h.manager.logoutSession(user, otherWeb.handle)).toBe(false);
        await expectSignedIn(h, otherWeb, other);
        expect((await h.manager.activeSessions(other)).map((s) => s.sessionId)).toEqual([otherWeb.handle]);
        expect(await totalSessions(h)).toBe(3);
      });

      it("logoutSessions(user, handles) ends those of the user and counts them", async () => {
        const h = await openHarness(setup);
        const { user, other, otherWeb, ios, android, web } = await revokeFixture(h);

        expect(await web.post("/sessions/revoke-many", { sessionIds: [otherWeb.handle] })).toEqual({ count: 0 });
        await expectSignedIn(h, otherWeb, other);

        const reply = await web.post("/sessions/revoke-many", {
          sessionIds: [ios.handle, android.handle, otherWeb.handle, "not-a-handle"],
        });
        expect(reply).toEqual({ count: 2 });
        await expectEnded(h, ios, user);
        await expectEnded(h, android, user);
        await expectSignedIn(h, web, user);
        await expectSignedIn(h, otherWeb, other);
        expect((await web.account()).sessions.map((s) => s.sessionId)).toEqual([web.handle]);
        expect(await totalSessions(h)).toBe(2);
      });

      it("logoutAllSessions(user) ends every session of the user, the requester's included", async () => {
        const h = await openHarness(setup);
        const { user, other, otherWeb, ios, android, web } = await revokeFixture(h);

        expect(await android.post("/sessions/revoke-all")).toEqual({ count: 3 });
        for (const device of [ios, android, web]) await expectEnded(h, device, user);
        await expectSignedIn(h, otherWeb, other);
        expect(await h.manager.activeSessions(user)).toEqual([]);
        expect(await h.indexMembers(user)).toEqual([]);
        expect(await totalSessions(h)).toBe(1);
        expect(await h.manager.logoutAllSessions(user)).toBe(0);
        await expectSignedIn(h, otherWeb, other);
      });

      it("logoutOtherSessions(user, req) ends every session of the user but the requester's", async () => {
        const h = await openHarness(setup);
        const { user, other, otherWeb, ios, android, web } = await revokeFixture(h);

        expect(await web.post("/sessions/revoke-others")).toEqual({ count: 2 });
        await expectEnded(h, ios, user);
        await expectEnded(h, android, user);
        await expectSignedIn(h, web, user);
        await expectSignedIn(h, otherWeb, other);
        const account = await web.account();
        expect(account.sessions.map((s) => [s.sessionId, s.current])).toEqual([[web.handle, true]]);
        expect(await totalSessions(h)).toBe(2);
        expect(await web.post("/sessions/revoke-others")).toEqual({ count: 0 });
        await expectSignedIn(h, web, user);
      });

      it("maxSessionsPerUser: signing in beyond the cap revokes the session due to expire soonest", async () => {
        const h = await openHarness(setup);
        const manager = new RelsSessionsManager({ store: h.store, applicationName: "ContractApp", maxSessionsPerUser: 2 });
        onTestFinished(() => {
          recordsOf(h.store).maxSessionsPerUser = 0;
        });
        const base = await h.serve(manager);
        const user = newUser();
        const first = h.device(IOS_APP, base);
        const second = h.device(ANDROID_APP, base);
        const third = h.device(DESKTOP_WEB, base);
        // The first signed in first, but for longer: the second is due to expire soonest.
        await first.login(user, { expiresAfter: 2 * TWO_HOURS });
        await second.login(user, { expiresAfter: TWO_HOURS });
        await third.login(user, { expiresAfter: TWO_HOURS });
        await expectEnded(h, second, user);
        await expectSignedIn(h, first, user);
        await expectSignedIn(h, third, user);
        expect((await manager.activeSessions(user)).map((s) => s.sessionId).sort()).toEqual([first.handle, third.handle].sort());
        expect(await totalSessions(h)).toBe(2);
      });
    });

    describe("every way a session ends takes it out of the index and the stats", () => {
      it("req.session.destroy()", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const web = h.device(DESKTOP_WEB);
        const android = h.device(ANDROID_APP);
        await web.login(user, { expiresAfter: TWO_HOURS });
        await android.login(user, { expiresAfter: TWO_HOURS });
        expect(await totalSessions(h)).toBe(2);

        await android.post("/logout");
        await expectEnded(h, android, user);
        await expectSignedIn(h, web, user);
        expect(await totalSessions(h)).toBe(1);
        expect((await h.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([web.handle]);
      });

      it("req.session.regenerate()", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const web = h.device(DESKTOP_WEB);
        const ios = h.device(IOS_APP);
        await web.login(user, { expiresAfter: TWO_HOURS });
        await ios.login(user, { expiresAfter: TWO_HOURS });
        expect(await totalSessions(h)).toBe(2);

        await ios.post("/regenerate");
        await expectEnded(h, ios, user);
        await expectSignedIn(h, web, user);
        expect(await totalSessions(h)).toBe(1);
        expect((await h.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([web.handle]);
      });

      it("store.clear()", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const other = newUser("other");
        const { ios, android, web } = await signInThreeDevices(h, user);
        const otherWeb = h.device(OTHER_WEB);
        await otherWeb.login(other, { expiresAfter: TWO_HOURS });
        await h.device(DESKTOP_WEB).post("/visit");
        expect(await totalSessions(h)).toBe(4);

        await h.store.clear();
        for (const device of [ios, android, web]) await expectEnded(h, device, user);
        await expectEnded(h, otherWeb, other);
        expect(await h.indexMembers(user)).toEqual([]);
        expect(await h.indexMembers(other)).toEqual([]);
        expect(await h.sessionKeys()).toEqual([]);
        const totals = await h.stats.totals();
        expect(totals.totalSessions).toBe(0);
        expect(totals.byPlatform).toEqual(emptyByPlatform());
      });

      it("TTL expiry: gone from activeSessions, pruned from the index, out of totals() without reconcile", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const lonely = newUser("lonely");
        // Same platform, so one stats bucket holds a live and an expiring member.
        const long = h.device(IOS_APP);
        const short = h.device(IOS_APP);
        const lonelyShort = h.device(ANDROID_APP);
        await long.login(user, { expiresAfter: TWO_HOURS });
        await short.login(user, { expiresAfter: 1500 });
        await lonelyShort.login(lonely, { expiresAfter: 1500 });

        const before = await h.manager.activeSessions(user);
        expect(before.map((s) => s.sessionId).sort()).toEqual([long.handle, short.handle].sort());
        const shortExpiresAt = before.find((s) => s.sessionId === short.handle)!.expiresAt.getTime();
        expect(shortExpiresAt).toBeGreaterThanOrEqual(short.loginStartedAt + 1500 - 1000);
        expect(shortExpiresAt).toBeLessThanOrEqual(short.loginEndedAt + 1500 + 1000);
        const lonelyExpiresAt = (await h.manager.activeSessions(lonely))[0]!.expiresAt.getTime();
        expect(await totalSessions(h)).toBe(3);
        expect(await h.indexMembers(user)).toContain(short.hex);

        await waitFor(
          "the short sessions to expire",
          async () =>
            !(await h.sessionExists(short.hex)) &&
            !(await h.sessionExists(lonelyShort.hex)) &&
            // Index entries and counts are filed a tenth of the lifetime past the expiry.
            Date.now() > Math.max(shortExpiresAt, lonelyExpiresAt) + 1500 / 10,
        );

        expect((await h.manager.activeSessions(user)).map((s) => s.sessionId)).toEqual([long.handle]);
        expect(await h.indexMembers(user)).toEqual([long.hex]);
        expect(await h.manager.activeSessions(lonely)).toEqual([]);
        // The index key itself goes with its last session.
        expect(await h.redis((c) => c.exists(keysOf(h.store).userIndex(lonely)))).toBe(0);

        const totals = await h.stats.totals();
        expect(totals.totalSessions).toBe(1);
        expect(totals.byPlatform).toEqual({ ...emptyByPlatform(), ios_app: 1 });
        expect(await h.bucketMembers(short.meta)).toEqual([long.hex]);
        expect(await h.bucketMembers(lonelyShort.meta)).not.toContain(lonelyShort.hex);
        expect((await short.account()).status).toBe(401);
        await expectSignedIn(h, long, user);
      });
    });

    describe("stats", () => {
      it("totals() counts the three devices by application and platform; reconcile() rebuilds them", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const startedAt = Date.now();
        const { ios } = await signInThreeDevices(h, user);
        await h.device(OTHER_WEB).post("/visit"); // anonymous: not counted
        const applicationName = ios.meta.applicationName;

        const totals = await h.stats.totals();
        expect(totals).toEqual({
          totalSessions: 3,
          lastUpdatedAt: expect.any(Date),
          byApplication: { [applicationName]: 3 },
          byPlatform: { ...emptyByPlatform(), ios_app: 1, android_app: 1, web: 1 },
        } satisfies Record<keyof StatsTotals, unknown>);
        expect(totals.lastUpdatedAt!.getTime()).toBeGreaterThanOrEqual(startedAt);
        expect(totals.lastUpdatedAt!.getTime()).toBeLessThanOrEqual(Date.now());

        // Corrupt the counters: delete every stats key (they share one hash tag).
        const keys = keysOf(h.store);
        await h.redis(async (c) => {
          const buckets = await c.smembers(keys.statsRegistry());
          await c.del(keys.statsRegistry(), keys.statsUpdated(), ...buckets);
        });
        const corrupted = await h.stats.totals();
        expect(corrupted.totalSessions).toBe(0);
        expect(corrupted.lastUpdatedAt).toBeNull();

        const progress: number[] = [];
        const reconciled = await new SessionStats(h.store).reconcile({ onProgress: (n) => progress.push(n) });
        const { lastUpdatedAt: _ignored, ...expected } = totals;
        expect(reconciled).toMatchObject(expected);
        expect(reconciled.lastUpdatedAt).toBeInstanceOf(Date);
        expect(await h.stats.totals()).toMatchObject(expected);
        expect(progress.length).toBeGreaterThan(0);
        expect([...progress].sort((a, b) => a - b)).toEqual(progress);
        expect(progress.at(-1)).toBe((await h.sessionKeys()).length);
        expect(progress.at(-1)).toBe(4);

        // Reconciled counters keep following session ends.
        await ios.post("/sessions/revoke", { sessionId: ios.handle });
        expect(await totalSessions(h)).toBe(2);
      });
    });

    describe("streaming", () => {
      it("streamSessions(store, batchSize) yields every signed-in session's meta exactly once, and no anonymous one", async () => {
        const h = await openHarness(setup);
        const alice = newUser("alice");
        const bob = newUser("bob");
        const aliceDevices = await signInThreeDevices(h, alice);
        const bobWeb = h.device(OTHER_WEB);
        const bobIos = h.device(IOS_APP);
        await bobWeb.login(bob, { expiresAfter: TWO_HOURS });
        await bobIos.login(bob, { expiresAfter: TWO_HOURS });
        const anonymous = [h.device(DESKTOP_WEB), h.device(ANDROID_APP)];
        for (const device of anonymous) await device.post("/visit");
        const signedIn = [...Object.values(aliceDevices), bobWeb, bobIos];
        expect(await h.sessionKeys()).toHaveLength(signedIn.length + anonymous.length);

        const batchSize = 2;
        expect(batchSize).toBeLessThan(signedIn.length);
        const streamed = await collect(streamSessions(h.store, batchSize));
        expect(streamed.map((m) => m.sessionId).sort()).toEqual(signedIn.map((d) => d.handle).sort());
        for (const device of signedIn) {
          const meta = streamed.find((m) => m.sessionId === device.handle)!;
          expect(meta.userId).toBe(device === bobWeb || device === bobIos ? bob : alice);
          expect(meta.clientPlatform).toBe(device.meta.clientPlatform);
        }
        const anonymousHandles = anonymous.map((d) => sessionHandle(d.hex));
        expect(streamed.filter((m) => anonymousHandles.includes(m.sessionId))).toEqual([]);
      });

      it("UserSessions.list(user) and list(user, { stream: true }) agree, over several pages", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const { ios, android, web } = await signInThreeDevices(h, user);
        const index = new UserSessions(h.store);
        // Index entries past one page of `scanCount`, and two already expired.
        const extra = recordsOf(h.store).scanCount * 2 + 7;
        const now = Date.now();
        for (let i = 0; i < extra; i++) await addIndexEntry(h.store, user, randomBytes(32).toString("hex"), new Date(now + 3_600_000 + i * 1000));
        await addIndexEntry(h.store, user, randomBytes(32).toString("hex"), new Date(now - 60_000));
        await addIndexEntry(h.store, user, randomBytes(32).toString("hex"), new Date(now - 1));

        const listed = await index.list(user);
        const streamed = await collect(index.list(user, { stream: true }));
        expect(listed).toHaveLength(3 + extra);
        expect(streamed.map((e) => [e.hex, e.expiresAt.getTime()])).toEqual(listed.map((e) => [e.hex, e.expiresAt.getTime()]));
        expect(listed.map((e) => e.hex)).toEqual(expect.arrayContaining([ios.hex, android.hex, web.hex]));
        expect(listed.every((e) => e.expiresAt.getTime() > now)).toBe(true);

        // And for a user with no index at all.
        const nobody = newUser("nobody");
        expect(await index.list(nobody)).toEqual([]);
        expect(await collect(index.list(nobody, { stream: true }))).toEqual([]);
      });
    });

    describe("hostile input", () => {
      it("user ids with * ? [ ] { } and spaces never see or revoke each other's sessions", async () => {
        const h = await openHarness(setup);
        const tag = randomUUID().slice(0, 8);
        const ids = ["a*", "ab", "a?", "a[b]", "a]", "{a} b", "a b", "*", "a\\*", "{", "}"].map((id) => `${tag}${id}`);
        const devices = new Map<string, Device>();
        for (const id of ids) {
          const device = h.device(DESKTOP_WEB);
          await device.login(id, { expiresAfter: TWO_HOURS });
          devices.set(id, device);
        }
        const index = new UserSessions(h.store);
        for (const id of ids) {
          const own = devices.get(id)!;
          const listed = await h.manager.activeSessions(id);
          expect(listed.map((s) => [s.userId, s.sessionId]), id).toEqual([[id, own.handle]]);
          expect((await index.list(id)).map((e) => e.hex), id).toEqual([own.hex]);
          expect((await collect(index.list(id, { stream: true }))).map((e) => e.hex), id).toEqual([own.hex]);
          const account = await own.account();
          expect(account.sessions.map((s) => s.sessionId), id).toEqual([own.handle]);
        }

        const star = `${tag}a*`;
        const ab = `${tag}ab`;
        expect(await h.manager.logoutSession(star, devices.get(ab)!.handle)).toBe(false);
        expect(await devices.get(star)!.post("/sessions/revoke-all")).toEqual({ count: 1 });
        await expectEnded(h, devices.get(star)!, star);
        for (const id of ids.filter((i) => i !== star)) await expectSignedIn(h, devices.get(id)!, id);
        expect(await h.manager.activeSessions(star)).toEqual([]);
        expect(await totalSessions(h)).toBe(ids.length - 1);
      });

      it("caps 10 KB header values and strips control characters", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const filler = (c: string) => c.repeat(10_240);
        const browser = h.device({
          "user-agent": `Mozilla/5.0\t(X11;\x85 Linux x86_64)\x9b ${filler("A")}`,
          "x-forwarded-for": "D".repeat(3000),
        });
        const app = h.device({
          "user-agent": UA.okhttp,
          appversion: "\t5.12.0\x85",
          "x-device": `\x9fiPhone15,2 ${filler("B")}`,
          "x-course-id": "\x81course\x9f-1",
          "x-forwarded-for": "203.0.113.77",
        });
        const app2 = h.device({
          "user-agent": UA.okhttp,
          "x-installation-id": filler("C"),
          "x-device": "Pixel 8",
          "x-forwarded-for": "203.0.113.78",
        });
        await browser.login(user, { expiresAfter: TWO_HOURS });
        await app.login(user, { expiresAfter: TWO_HOURS });
        await app2.login(user, { expiresAfter: TWO_HOURS });

        const expectedUa = `Mozilla/5.0(X11; Linux x86_64) ${filler("A")}`.slice(0, 512);
        const check = (sessions: readonly SessionMeta[], where: string) => {
          const b = sessions.find((s) => s.sessionId === browser.handle)!;
          expect(b.userAgent, where).toBe(expectedUa);
          expect(codePoints(b.userAgent), where).toBeLessThanOrEqual(512);
          expect(b.ip, where).toBe("D".repeat(64));
          expect(b.clientPlatform, where).toBe("web");
          const a = sessions.find((s) => s.sessionId === app.handle)!;
          expect(a.appVersion, where).toBe("5.12.0");
          expect(a.device, where).toBe(`iPhone15,2 ${filler("B")}`.slice(0, 128));
          expect(a.courseId, where).toBe("course-1");
          expect(a.clientPlatform, where).toBe("ios_app");
          const a2 = sessions.find((s) => s.sessionId === app2.handle)!;
          expect(a2.installationId, where).toBe(filler("C").slice(0, 128));
          expect(a2.clientPlatform, where).toBe("android_app");
          for (const s of sessions) {
            for (const field of ["ip", "userAgent", "appVersion", "installationId", "device", "courseId"] as const) {
              expect(/\p{Cc}/u.test(s[field] ?? ""), `${where}: ${field} has a control character`).toBe(false);
            }
          }
        };
        check([browser.meta, app.meta, app2.meta], "as recorded");
        check(await h.manager.activeSessions(user), "as stored");
        check((await app.account()).sessions, "as listed to the current request");

        for (const device of [browser, app, app2]) {
          const stored = JSON.stringify(((await h.store.get(device.sid)) as unknown as Record<string, unknown> | null)?._rels);
          expect(stored).toBeDefined();
          expect(stored!.length).toBeLessThan(2048);
          expect(stored).not.toMatch(/[\u0080-\u009f\t]/);
        }
      });

      it("lists a sparse old meta payload with defaults and skips a garbage one, without throwing", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const web = h.device(DESKTOP_WEB);
        const old = h.device(IOS_APP);
        const garbage = h.device(ANDROID_APP);
        const polluted = h.device(OTHER_WEB);
        for (const device of [web, old, garbage, polluted]) await device.login(user, { expiresAfter: TWO_HOURS });
        const oldExpiresAt = (await h.manager.activeSessions(user)).find((s) => s.sessionId === old.handle)!.expiresAt;

        // What 0.1 left in Redis (layout 2): sparse, garbled and hostile metadata.
        const createdAt = new Date("2023-05-06T07:08:09.000Z");
        await storeAsLayout2(h, old, JSON.stringify({ userId: user, sessionId: old.handle, createdAt: createdAt.toISOString() }));
        await storeAsLayout2(h, garbage, JSON.stringify("{not json"));
        await storeAsLayout2(h, polluted, '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"userId":{"x":1}}');

        const listed = await h.manager.activeSessions(user);
        expect(listed.map((s) => s.sessionId)).toEqual([web.handle, old.handle]);
        expect(listed[1]).toEqual({
          sessionId: old.handle,
          userId: user,
          ...META_DEFAULTS,
          signInAt: createdAt,
          lastSeenAt: createdAt,
          createdAt,
          expiresAt: oldExpiresAt,
          current: false,
        } satisfies ActiveSession);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();

        // Through the app, too.
        const account = await web.account();
        expect(account.sessions.map((s) => [s.sessionId, s.current])).toEqual([
          [web.handle, true],
          [old.handle, false],
        ]);
      });

      it("streamSessions yields a sparse old meta payload (with defaults) and skips garbage ones", async () => {
        const h = await openHarness(setup);
        const user = newUser();
        const web = h.device(DESKTOP_WEB);
        const old = h.device(IOS_APP);
        const garbage = h.device(ANDROID_APP);
        for (const device of [web, old, garbage]) await device.login(user, { expiresAfter: TWO_HOURS });
        const createdAt = new Date("2023-05-06T07:08:09.000Z");
        await storeAsLayout2(h, old, JSON.stringify({ userId: user, sessionId: old.handle, createdAt: createdAt.toISOString() }));
        await storeAsLayout2(h, garbage, JSON.stringify("{not json"));

        const streamed = await collect(streamSessions(h.store, 2));
        expect(streamed.map((m) => m.sessionId).sort()).toEqual([web.handle, old.handle].sort());
        const sparse = streamed.find((m) => m.sessionId === old.handle);
        expect(sparse).toMatchObject({ userId: user, applicationName: "", clientPlatform: "web", createdAt });
      });
    });

    describe("trackSessions middleware", () => {
      it("records requests whose getUser returns a user and leaves the others alone", async () => {
        const h = await openHarness(setup);
        const base = await h.serve(h.manager, { track: true });
        const user = newUser();
        const app = h.device(IOS_APP, base);
        const visitor = h.device(DESKTOP_WEB, base);

        // getUser runs before the route signs in: nothing recorded yet.
        await app.post("/set-user", { userId: user });
        expect(await h.sessionExists(app.hex)).toBe(true);
        expect(await h.manager.activeSessions(user)).toEqual([]);
        expect(await totalSessions(h)).toBe(0);

        const startedAt = Date.now();
        expect(await app.get("/ping")).toEqual({ user });
        const listed = await h.manager.activeSessions(user);
        expect(listed).toHaveLength(1);
        expect(listed[0]).toMatchObject({
          sessionId: sessionHandle(app.hex),
          userId: user,
          clientPlatform: "ios_app",
          device: "iPhone15,2",
          appVersion: "5.12.0",
          ip: "203.0.113.10",
        });
        expect(listed[0]!.expiresAt.getTime()).toBeGreaterThanOrEqual(startedAt + TWO_HOURS - 1000);
        expect(listed[0]!.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + TWO_HOURS + 1000);
        expect(await h.indexMembers(user)).toEqual([app.hex]);

        // A visitor with a session but no user: left alone.
        await visitor.post("/visit");
        expect(await visitor.get("/ping")).toEqual({ user: null });
        expect(await h.sessionExists(visitor.hex)).toBe(true);
        expect(((await h.store.get(visitor.sid)) as unknown as Record<string, unknown>)._rels).toBeUndefined();
        expect(await totalSessions(h)).toBe(1);
        expect((await collect(streamSessions(h.store, 10))).map((m) => m.sessionId)).toEqual([sessionHandle(app.hex)]);
      });
    });
  });
}
