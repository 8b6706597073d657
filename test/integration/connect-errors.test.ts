/**
 * Connection failures say where and why: host:port (credentials masked), the reason, and
 * ioredis's error as `cause`, instead of "Redis did not answer within 1000 ms". Each case
 * is real: a closed port, a name under `.invalid` (never resolved beyond this machine), a
 * spawned redis-server with a password, one asked for a database it does not have, and
 * `cluster`/`sentinel` pointed at a plain server.
 */
import { randomUUID } from "node:crypto";
import { tracingChannel } from "node:diagnostics_channel";
import { inspect } from "node:util";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  RedisConnectionError,
  RedisUnavailableError,
  RelsRedisStore,
  RelsSession,
  type ConnectFailureReason,
  type SessionStoreConfigInput,
} from "../../src/index.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { newSid, sessionFor } from "../support/store-contract.js";
import { CHANNEL_NAMES } from "../../src/observability/channels.js";

/** Long, so that failing well inside it shows the first reported error ended the wait. */
const COMMAND_TIMEOUT = 5000;
/** A hang check, not a speed test. */
const FAST = COMMAND_TIMEOUT / 2;
const PASSWORD = "right pa/ss@word";

let plain: SpawnedRedis;
let guarded: SpawnedRedis;

beforeAll(async () => {
  [plain, guarded] = await Promise.all([spawnRedisServer(), spawnRedisServer()]);
  // Set after start: the helper's readiness poll does not authenticate.
  const admin = new Redis(guarded.url);
  await admin.config("SET", "requirepass", PASSWORD);
  admin.disconnect();
});

afterAll(async () => {
  await Promise.all([plain?.dispose(), guarded?.dispose()]);
});

afterEach(async () => {
  await RelsSession.close();
});

function configure(redisOptions: SessionStoreConfigInput["redisOptions"]): void {
  RelsSession.configure(
    {
      applicationName: "Turtle",
      redisOptions: { namespace: `t-conn-${randomUUID()}`, commandTimeout: COMMAND_TIMEOUT, ...redisOptions },
    },
    { env: {} },
  );
}

/** The error of the first call, with how long it took. */
async function firstCallError(): Promise<{ error: RedisConnectionError; ms: number }> {
  const started = performance.now();
  const error = await RelsSession.stats.totals().then(
    () => undefined,
    (e: unknown) => e,
  );
  const ms = performance.now() - started;
  expect(error).toBeInstanceOf(RedisConnectionError);
  expect(error).toBeInstanceOf(RedisUnavailableError);
  return { error: error as RedisConnectionError, ms };
}

function expectReason(
  error: RedisConnectionError,
  reason: ConnectFailureReason,
  address: string,
  detail: RegExp,
): void {
  expect(error.reason).toBe(reason);
  expect(error.address).toBe(address);
  expect(error.message).toContain(`Cannot connect to Redis at ${address}: ${reason}`);
  expect(error.message).toMatch(detail);
  expect(error.cause).toBeInstanceOf(Error);
  const cause = error.cause as Error & { lastNodeError?: Error };
  expect(`${cause.message} ${cause.lastNodeError?.message ?? ""}`).toMatch(detail);
}

describe("connection errors name the server and the reason", () => {
  it("connection refused: host:port, ECONNREFUSED as cause, without waiting for the deadline", async () => {
    configure({ url: "redis://127.0.0.1:1" });
    const { error, ms } = await firstCallError();
    expectReason(error, "connection refused", "127.0.0.1:1", /ECONNREFUSED/);
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
    expect(ms).toBeLessThan(FAST);
  });

  it("unknown host (ENOTFOUND)", async () => {
    configure({ url: "redis://nohost.invalid:6379" });
    const { error, ms } = await firstCallError();
    expectReason(error, "unknown host", "nohost.invalid:6379", /ENOTFOUND|EAI_AGAIN/);
    expect(ms).toBeLessThan(FAST);
  });

  it("credentials never appear, in the URL or the options, whatever characters the password holds", async () => {
    const attempts: Array<SessionStoreConfigInput["redisOptions"]> = [
      { url: "redis://admin:pa%2Fss@127.0.0.1:1/2" },
      { url: "redis://u:p@ss@127.0.0.1:1" },
      { url: "redis://127.0.0.1:1", username: "admin", password: "hunter 2/pa/ss" },
    ];
    for (const redisOptions of attempts) {
      configure(redisOptions);
      const { error } = await firstCallError();
      expect(error.address).toBe("127.0.0.1:1");
      for (const secret of ["pa%2Fss", "pa/ss", "hunter", "p@ss", "admin"])
        expect(error.message).not.toContain(secret);
      await RelsSession.close();
    }
  });

  it("wrong password (WRONGPASS) and no password (NOAUTH), then the right one works", async () => {
    const address = `127.0.0.1:${guarded.port}`;
    configure({ url: guarded.url, password: "wrong" });
    const wrong = await firstCallError();
    expectReason(wrong.error, "authentication failed", address, /WRONGPASS/);
    expect(wrong.ms).toBeLessThan(FAST);
    expect(wrong.error.message).not.toContain("wrong");

    configure({ url: guarded.url });
    expectReason((await firstCallError()).error, "authentication failed", address, /NOAUTH/);

    configure({ url: guarded.url, password: PASSWORD });
    const sid = newSid();
    await RelsSession.store().set(sid, sessionFor(60_000, { n: 1 }));
    expect(await RelsSession.store().get(sid)).toMatchObject({ n: 1 });
  });

  it("no password in any error, cause or tracing payload: a wrong password, and the right one of a disabled ACL user", async () => {
    const admin = new Redis(guarded.url, { password: PASSWORD });
    const userPassword = `bob-secret-${randomUUID()}`;
    const wrongPassword = `wrong-secret-${randomUUID()}`;
    await admin.acl("SETUSER", "bob", "off", `>${userPassword}`, "~*", "+@all");
    admin.disconnect();
    const payloads: unknown[] = [];
    const seen = (message: unknown) => payloads.push(message);
    const get = tracingChannel(CHANNEL_NAMES.store("get"));
    const handlers = { start: seen, end: seen, asyncStart: seen, asyncEnd: seen, error: seen };
    get.subscribe(handlers);
    try {
      for (const [options, secret] of [
        [{ url: guarded.url, password: wrongPassword }, wrongPassword],
        [{ url: guarded.url, username: "bob", password: userPassword }, userPassword],
      ] as const) {
        configure(options);
        const error = await RelsSession.store()
          .get(newSid())
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RedisConnectionError);
        // What an app's logger or an APM agent would print of it, hidden fields and causes included.
        const everything = [
          inspect(error, { depth: Infinity, showHidden: true }),
          inspect(payloads, { depth: Infinity, showHidden: true }),
        ].join("\n");
        expect(everything).toMatch(/WRONGPASS/);
        expect(payloads.length).toBeGreaterThan(0);
        expect(everything).not.toContain(secret);
        await RelsSession.close();
        payloads.length = 0;
      }
    } finally {
      get.unsubscribe(handlers);
    }
  });

  it("no session payload in the error of a write Redis refuses (out of memory)", async () => {
    const full = await spawnRedisServer({ args: ["--maxmemory-policy", "noeviction", "--maxmemory", "1mb"] });
    try {
      const client = new Redis(full.url, { maxRetriesPerRequest: 0 });
      await client.set("filler", "x".repeat(2_000_000)).catch(() => undefined);
      const store = new RelsRedisStore({ client, namespace: `t-${randomUUID()}` });
      const secret = `payload-${randomUUID()}`;
      const error = await store.set(newSid(), sessionFor(60_000, { secret })).catch((e: unknown) => e);
      expect(String(error)).toMatch(/OOM/);
      expect(inspect(error, { depth: Infinity, showHidden: true })).not.toContain(secret);
      client.disconnect();
    } finally {
      await full.dispose();
    }
  });

  it("a database the server refuses fails every call instead of using database 0", async () => {
    // Something in db 0 of this namespace, that a silent fallback would count.
    const namespace = `t-conn-${randomUUID()}`;
    RelsSession.configure(
      { applicationName: "Turtle", redisOptions: { url: plain.url, namespace } },
      { env: {} },
    );
    await RelsSession.store().set(newSid(), sessionFor());
    expect(await RelsSession.store().length()).toBe(1);

    for (const redisOptions of [{ url: `${plain.url}/99` }, { url: plain.url, db: 99 }]) {
      RelsSession.configure(
        { applicationName: "Turtle", redisOptions: { ...redisOptions, namespace } },
        { env: {} },
      );
      const store = RelsSession.store();
      const first = await store.length().catch((e: unknown) => e);
      expect(first).toBeInstanceOf(RedisConnectionError);
      expectReason(
        first as RedisConnectionError,
        "database refused",
        `127.0.0.1:${plain.port}`,
        /DB index is out of range/,
      );
      // Later calls fail too (fast, or with the same reason), never answering from db 0.
      for (let i = 0; i < 3; i++) {
        const later = await store.length().catch((e: unknown) => e);
        expect(later).toBeInstanceOf(RedisUnavailableError);
        expect((later as Error).message).toMatch(/database refused|circuit open/);
      }
    }
  });

  it("cluster pointed at a plain server: not a cluster", async () => {
    configure({ cluster: { nodes: [{ host: "127.0.0.1", port: plain.port }] } });
    const { error, ms } = await firstCallError();
    expectReason(error, "not a cluster", `Cluster 127.0.0.1:${plain.port}`, /cluster support disabled/);
    expect(ms).toBeLessThan(FAST);
  });

  it("sentinel pointed at a plain server: not a sentinel", async () => {
    configure({ sentinel: { sentinels: [{ host: "127.0.0.1", port: plain.port }], name: "mymaster" } });
    const { error, ms } = await firstCallError();
    expectReason(
      error,
      "not a sentinel",
      `Sentinel 127.0.0.1:${plain.port} (master group "mymaster")`,
      /unknown command .?sentinel/i,
    );
    expect(ms).toBeLessThan(FAST);
  });

  it("while the circuit is open, failing fast still says why", async () => {
    configure({ url: "redis://127.0.0.1:1" });
    await firstCallError();
    const errors: unknown[] = [];
    for (let i = 0; i < 6; i++) errors.push(await RelsSession.stats.totals().catch((e: unknown) => e));
    const open = errors.find((e) => e instanceof RedisUnavailableError && /circuit open/.test(e.message)) as
      RedisUnavailableError | undefined;
    expect(open, `no circuit-open error among: ${errors.map(String).join(" | ")}`).toBeDefined();
    expect(open!.message).toContain("127.0.0.1:1: connection refused");
    expect(open!.cause).toBeInstanceOf(RedisConnectionError);
  });
});
