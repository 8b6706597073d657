/**
 * Issue 11: where the store's behaviour must match what express-session's contract, and the
 * peers (connect-redis 9, MemoryStore), promise. Written against the public API only, on
 * the shared test Redis, each store under its own random namespace.
 */
import { randomUUID } from "node:crypto";
import { Cookie, type SessionData } from "express-session";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  InvalidSessionIdError,
  RelsRedisStore,
  RelsSessionError,
  type RelsRedisStoreOptions,
} from "../../src/index.js";
import { newSid, sessionFor, sha256 } from "../support/store-contract.js";
import { storesForThisFile } from "../support/stores.js";
import { exposedGc } from "../support/gc.js";

const { inspector, newClient } = storesForThisFile();

/** A store on its own client, under a fresh namespace whose session prefix is `<namespace>:`. */
function storeWith(options: Omit<RelsRedisStoreOptions, "client" | "source"> = {}): {
  store: RelsRedisStore;
  prefix: string;
} {
  const namespace = `t-${randomUUID()}`;
  const prefix = options.prefix ?? `${namespace}:`;
  return { store: new RelsRedisStore({ namespace, prefix, ...options, client: newClient() }), prefix };
}

/** The session key of `sid`, as README's key layout documents it. */
function keyOf(prefix: string, sid: string): string {
  return `${prefix}{2::${sha256(sid)}}`;
}

/** A session whose cookie expired `agoMs` ago, as express-session would hand it to `set`. */
function expiredSession(agoMs = 1_000, data: Record<string, unknown> = {}): SessionData {
  return {
    cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() - agoMs), httpOnly: true, path: "/" },
    ...data,
  } as unknown as SessionData;
}

function expiresOf(session: SessionData | null): number {
  expect(session, "the session was read back").not.toBeNull();
  return new Date(session!.cookie.expires as unknown as string | Date).getTime();
}

describe("saves after a delete that was not a revocation", () => {
  it("an expired-cookie save deletes the session, and a later save of that sid with a valid cookie is stored", async () => {
    const { store, prefix } = storeWith();
    const sid = newSid();
    await store.set(sid, sessionFor(60_000, { n: 1 }));
    expect(await store.get(sid)).toMatchObject({ n: 1 });

    await store.set(sid, expiredSession(1_000, { n: 1 }));
    expect(await store.get(sid)).toBeNull();
    expect(await inspector.exists(keyOf(prefix, sid))).toBe(0);

    // A new request with a valid cookie for the same sid: a save that reports success must store.
    await store.set(sid, sessionFor(60_000, { n: 2 }));
    expect(await store.get(sid), "the save after an expiry delete was silently dropped").toMatchObject({
      n: 2,
    });
  });

  it("clear() then a save of a new session is stored; a save of a cleared sid (a request in flight) is not", async () => {
    const { store } = storeWith();
    const [sid, other] = [newSid(), newSid()];
    await store.set(sid, sessionFor(60_000, { n: 1 }));
    await store.set(other, sessionFor(60_000, { n: 1 }));
    await store.clear();
    expect(await store.length()).toBe(0);

    await store.set(sid, sessionFor(60_000, { n: 2 }));
    const fresh = newSid();
    await store.set(fresh, sessionFor(60_000, { n: 3 }));
    expect(await store.get(sid), "clear() is a revocation: the cleared sid stays ended").toBeNull();
    expect(await store.get(fresh), "the save of a new session after clear() was dropped").toMatchObject({
      n: 3,
    });
    expect(await store.length()).toBe(1);
  });
});

/**
 * connect-redis 9's own `lifecycleTest` (node_modules/connect-redis/index_test.ts), step by
 * step, adapted where this store differs by design: `ids()` and `all()` give private ids
 * (`2::sha256(sid)`), keys are `<prefix>{2::hex}`, and the 1,000 loaded sessions live a
 * minute instead of a second (so that a slow machine cannot expire them mid-count).
 */
async function connectRedisLifecycle(store: RelsRedisStore, prefix: string, run: string): Promise<void> {
  // A cleared sid stays ended (clear() is a revocation), so each run names its own sessions.
  const id = (sid: string) => `${run}-${sid}`;
  const privateId = (sid: string) => `2::${sha256(id(sid))}`;
  await store.clear();

  const sess = { foo: "bar", cookie: { originalMaxAge: null } } as unknown as SessionData;
  await store.set(id("123"), sess);
  expect(await store.get(id("123")), `${run}: get 123`).toEqual(sess);
  expect(await inspector.ttl(keyOf(prefix, id("123"))), `${run}: default ttl of 123`).toBeGreaterThanOrEqual(
    86_399,
  );

  const expires = new Date(Date.now() + 60_000);
  await store.set(id("456"), { cookie: { originalMaxAge: null, expires } } as unknown as SessionData);
  const ttl456 = await inspector.ttl(keyOf(prefix, id("456")));
  expect(ttl456, `${run}: 456 stored`).toBeGreaterThan(0);
  expect(ttl456, `${run}: ttl of 456`).toBeLessThanOrEqual(60);

  const expires2 = new Date(Date.now() + 90_000);
  await store.touch(id("456"), {
    cookie: { originalMaxAge: null, expires: expires2 },
  } as unknown as SessionData);
  expect(await inspector.ttl(keyOf(prefix, id("456"))), `${run}: ttl of 456 after touch`).toBeGreaterThan(60);

  expect(await store.length(), `${run}: length after two sets`).toBe(2);
  expect((await store.ids()).sort(), `${run}: ids`).toEqual([privateId("123"), privateId("456")].sort());

  const all = (await store.all()) as Array<SessionData & { id: string; foo?: string }>;
  expect(all.map((s) => s.id).sort(), `${run}: all() ids`).toEqual(
    [privateId("123"), privateId("456")].sort(),
  );
  expect(
    all.find((s) => s.id === privateId("123")),
    `${run}: all() 123`,
  ).toEqual({ ...sess, id: privateId("123") });
  // connect-redis shows the expiry of the last write; this store may show the touched one
  // (see "touch then get" below): all() only has to agree with get().
  const viaAll = all.find((s) => s.id === privateId("456"));
  expect(viaAll?.cookie.expires, `${run}: all() 456 agrees with get()`).toEqual(
    (await store.get(id("456")))?.cookie.expires,
  );

  await store.destroy(id("456"));
  expect(await store.length(), `${run}: length after destroy`).toBe(1);

  await store.clear();
  expect(await store.length(), `${run}: length after clear`).toBe(0);

  const count = 1000;
  const cookie = new Cookie();
  for (let i = 0; i < count; i++) {
    cookie.expires = new Date(Date.now() + 60_000);
    await store.set(id(`s${i}`), { cookie } as SessionData);
  }
  expect(await store.length(), `${run}: length after loading ${count}`).toBe(count);

  await store.clear();
  expect(await store.length(), `${run}: length after the second clear`).toBe(0);

  await store.set(id("789"), {
    cookie: { originalMaxAge: null, expires: new Date(Date.now() + 90_000) },
  } as unknown as SessionData);
  expect(await store.length(), `${run}: 789 with a future expiry is stored`).toBe(1);

  await store.set(id("789"), {
    cookie: { originalMaxAge: null, expires: new Date(Date.now() - 90_000) },
  } as unknown as SessionData);
  expect(await store.length(), `${run}: 789 with a past expiry is deleted`).toBe(0);
}

describe("connect-redis 9's lifecycle", () => {
  // 2,000 sequential saves: a generous "did not hang" bound for a busy machine.
  it(
    "passes twice in a row (each run with sessions of its own: a cleared sid stays ended)",
    { timeout: 120_000 },
    async () => {
      const { store, prefix } = storeWith();
      await connectRedisLifecycle(store, prefix, "first run");
      await connectRedisLifecycle(store, prefix, "second run");
    },
  );
});

describe("disableTTL", () => {
  it("keeps a live session without expiry, and deletes it when saved with an already-expired cookie", async () => {
    const { store, prefix } = storeWith({ disableTTL: true });
    const sid = newSid();
    await store.set(sid, sessionFor(60_000, { n: 1 }));
    expect(await inspector.pttl(keyOf(prefix, sid)), "disableTTL: stored without expiry").toBe(-1);

    // As connect-redis does, and as express-session's contract says of an expired save.
    await store.set(sid, expiredSession(1_000, { n: 1 }));
    expect(await store.get(sid), "an expired save under disableTTL must delete").toBeNull();
    expect(await inspector.exists(keyOf(prefix, sid))).toBe(0);

    await store.set(sid, sessionFor(60_000, { n: 2 }));
    expect(await store.get(sid)).toMatchObject({ n: 2 });
  });
});

type Outcome = { kind: "uncaughtException" | "unhandledRejection"; error: unknown };

/**
 * Runs `start` with vitest's own process listeners set aside, and resolves with the first
 * uncaughtException or unhandledRejection (or rejects past `withinMs`, a "did not hang" bound).
 * The listeners are restored whatever happens.
 */
async function firstProcessFault(start: () => void, withinMs = 5_000): Promise<Outcome> {
  const kinds = ["uncaughtException", "unhandledRejection"] as const;
  const saved = {
    uncaughtException: process.listeners("uncaughtException"),
    unhandledRejection: process.listeners("unhandledRejection"),
  };
  for (const kind of kinds) process.removeAllListeners(kind);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      process.once("uncaughtException", (error) => resolve({ kind: "uncaughtException", error }));
      process.once("unhandledRejection", (error) => resolve({ kind: "unhandledRejection", error }));
      timer = setTimeout(
        () => reject(new Error(`the callback's throw surfaced nowhere within ${withinMs} ms`)),
        withinMs,
      );
      start();
    });
  } finally {
    clearTimeout(timer);
    for (const kind of kinds) process.removeAllListeners(kind);
    for (const listener of saved.uncaughtException) process.on("uncaughtException", listener);
    for (const listener of saved.unhandledRejection) process.on("unhandledRejection", listener);
  }
}

describe("callbacks that throw", () => {
  const cases: Array<
    [string, (store: RelsRedisStore, sid: string, callback: (error: unknown) => void) => void]
  > = [
    ["get", (store, sid, callback) => store.get(sid, callback)],
    ["set", (store, sid, callback) => store.set(sid, sessionFor(), callback)],
    ["touch", (store, sid, callback) => store.touch(sid, sessionFor(), callback)],
    ["destroy", (store, sid, callback) => store.destroy(sid, callback)],
    ["length", (store, _sid, callback) => store.length(callback)],
    ["an error reply (invalid sid)", (store, _sid, callback) => store.get("2::not-a-sid", callback)],
  ];

  for (const [name, call] of cases) {
    it(`${name}: a throw in the callback surfaces as an uncaughtException, never an unhandledRejection`, async () => {
      const { store } = storeWith();
      const sid = newSid();
      await store.set(sid, sessionFor());
      const thrown = new Error(`thrown by the app's ${name} callback`);
      let calls = 0;
      const outcome = await firstProcessFault(() =>
        call(store, sid, () => {
          calls++;
          throw thrown;
        }),
      );
      expect(outcome.kind).toBe("uncaughtException");
      expect(outcome.error).toBe(thrown);
      expect(calls, "the callback is called once, not again with its own throw").toBe(1);
    });
  }
});

/** What the issue asks the store to gain: `close()` and `[Symbol.asyncDispose]`, neither closing the app's client. */
interface Closable {
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function closable(store: RelsRedisStore): RelsRedisStore & Closable {
  const candidate = store as RelsRedisStore & Partial<Closable>;
  expect(typeof candidate.close, "RelsRedisStore#close() exists").toBe("function");
  expect(typeof candidate[Symbol.asyncDispose], "RelsRedisStore#[Symbol.asyncDispose]() exists").toBe(
    "function",
  );
  return candidate as RelsRedisStore & Closable;
}

describe("stores on the app's own client", () => {
  it("eleven stores on one client trigger no MaxListenersExceededWarning, and close() detaches each", async () => {
    const client = newClient();
    await client.ping();
    const before = { ready: client.listenerCount("ready"), close: client.listenerCount("close") };
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const stores = Array.from(
        { length: 11 },
        () => new RelsRedisStore({ namespace: `t-${randomUUID()}`, client }),
      );
      // process.emitWarning delivers on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message)).toEqual(
        [],
      );
      for (const store of stores) await closable(store).close();
    } finally {
      process.off("warning", onWarning);
    }
    expect(client.listenerCount("ready")).toBe(before.ready);
    expect(client.listenerCount("close")).toBe(before.close);
    expect(client.status, "the app's client stays open").toBe("ready");
    expect(await client.ping()).toBe("PONG");
  });

  it("await using disposes the store's listeners and leaves the client open", async () => {
    const client = newClient();
    await client.ping();
    const before = client.listenerCount("ready");
    {
      await using store = closable(new RelsRedisStore({ namespace: `t-${randomUUID()}`, client }));
      const sid = newSid();
      await store.set(sid, sessionFor(60_000, { n: 1 }));
      expect(await store.get(sid)).toMatchObject({ n: 1 });
    }
    expect(client.listenerCount("ready")).toBe(before);
    expect(await client.ping()).toBe("PONG");
  });
});

describe("a store that is dropped without close()", () => {
  it("is garbage-collected, and dropped stores do not pile up listeners on the app's client", async () => {
    const gc = exposedGc();
    const client = newClient();
    await client.ping();
    const before = { ready: client.listenerCount("ready"), close: client.listenerCount("close") };
    let collected = 0;
    const registry = new FinalizationRegistry<void>(() => collected++);
    const dropped = 20;
    // Made and used in a scope of their own, so that nothing here keeps them.
    await (async () => {
      for (let i = 0; i < dropped; i++) {
        const store = new RelsRedisStore({ namespace: `t-${randomUUID()}`, client });
        await store.get(newSid());
        registry.register(store);
      }
    })();
    // Finalizers run after a collection, on a later turn: collect and poll, within a bound.
    for (let round = 0; round < 30 && collected < dropped; round++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(collected, "dropped stores are collected (the client's listeners must not hold them)").toBe(
      dropped,
    );
    // At most one listener per event may stay for stores still alive elsewhere; none per dropped store.
    expect(client.listenerCount("ready")).toBeLessThanOrEqual(before.ready + 1);
    expect(client.listenerCount("close")).toBeLessThanOrEqual(before.close + 1);
  });
});

describe("limits", () => {
  it("a sid of up to 256 characters is accepted; a longer one is an InvalidSessionIdError", async () => {
    const { store } = storeWith();
    const longest = "a".repeat(256);
    await store.set(longest, sessionFor(60_000, { n: 1 }));
    expect(await store.get(longest)).toMatchObject({ n: 1 });

    const tooLong = "a".repeat(257);
    await expect(store.set(tooLong, sessionFor())).rejects.toBeInstanceOf(InvalidSessionIdError);
    await expect(store.get(tooLong)).rejects.toBeInstanceOf(InvalidSessionIdError);
    const error = (await store.get(tooLong).catch((e: unknown) => e)) as Error;
    expect(error.message, "the error never holds the sid").not.toContain(tooLong);
  });

  it("a cookie expiring in more than 100 years is one clear RelsSessionError, and nothing is written", async () => {
    const { store, prefix } = storeWith();
    const sid = newSid();
    const session = sessionFor(60_000);
    session.cookie.expires = new Date(Date.now() + 101 * 365 * 86_400_000);
    const errors = await callbackErrors((callback) => store.set(sid, session, callback));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RelsSessionError);
    expect((errors[0] as Error).message).toMatch(/100 years/);
    expect((errors[0] as Error).message).not.toContain(sid);
    expect(await inspector.exists(keyOf(prefix, sid))).toBe(0);
  });

  it("cookie.expires = new Date(NaN) is ONE clear RelsSessionError (no second TypeError), and nothing is written", async () => {
    const { store, prefix } = storeWith();
    const sid = newSid();
    const session = sessionFor(60_000);
    session.cookie.expires = new Date(Number.NaN);
    const errors = await callbackErrors((callback) => store.set(sid, session, callback));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RelsSessionError);
    expect(errors[0]).not.toBeInstanceOf(TypeError);
    expect((errors[0] as Error).message).toMatch(/cookie\.expires/);
    expect((errors[0] as Error).message).not.toContain(sid);
    await expect(store.set(sid, session)).rejects.toBeInstanceOf(RelsSessionError);
    expect(await inspector.exists(keyOf(prefix, sid))).toBe(0);
  });

  it.each([
    ["ttl", { ttl: 0 }],
    ["scanCount", { scanCount: 0 }],
  ] as const)(
    "%s: 0 is a ConfigError naming the field (no silent fallback to the default)",
    (field, options) => {
      let error: unknown;
      try {
        new RelsRedisStore({ ...options, client: inspector });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((issue) => issue.path)).toContain(`store.${field}`);
    },
  );
});

/**
 * Every error a callback-style call reports, collected until a macrotask after the first
 * (a second call, were there one, comes in the same or the next tick).
 */
async function callbackErrors(call: (callback: (error: unknown) => void) => void): Promise<unknown[]> {
  const errors: unknown[] = [];
  await new Promise<void>((resolve) =>
    call((error) => {
      errors.push(error);
      setImmediate(resolve);
    }),
  );
  return errors;
}

describe("touch then get", () => {
  it("after a touch that is not throttled, get() reports the new expiry (the one Redis holds)", async () => {
    const { store, prefix } = storeWith({ touchAfter: 0 });
    const sid = newSid();
    // Written a while ago: half of its minute is left.
    const written = sessionFor(60_000, { n: 1 });
    written.cookie.expires = new Date(Date.now() + 30_000);
    await store.set(sid, written);

    const loaded = (await store.get(sid))!;
    // What express-session's req.session.touch() does before calling store.touch.
    const touchedAt = Date.now();
    const newExpiry = touchedAt + 60_000;
    loaded.cookie.expires = new Date(newExpiry);
    await store.touch(sid, loaded);

    const pttl = await inspector.pttl(keyOf(prefix, sid));
    expect(pttl, "the touch extended the TTL").toBeGreaterThan(45_000);
    expect(
      Math.abs(expiresOf(await store.get(sid)) - newExpiry),
      "get() after touch shows the touched expiry",
    ).toBeLessThanOrEqual(50);
  });
});

describe("what a read leaves on the session", () => {
  it("nothing the store keeps of a read shows on the session: its keys, a spread, JSON and structuredClone hold only the saved data", async () => {
    const { store } = storeWith();
    const sid = newSid();
    const saved = sessionFor(60_000, { user: "u", nested: { a: [1, 2] } });
    await store.set(sid, saved);
    const read = (await store.get(sid))!;
    const keys = Reflect.ownKeys(read);
    expect(keys).toEqual(["cookie", "user", "nested"]);
    expect(Object.getOwnPropertySymbols(read)).toEqual([]);
    expect({ ...read }).toStrictEqual(JSON.parse(JSON.stringify(read)));
    expect(structuredClone(read)).toStrictEqual(JSON.parse(JSON.stringify(read)));
    expect(Reflect.ownKeys(structuredClone(read))).toEqual(keys);
    // …and yet the store knows it read this object: saving it after the session was
    // destroyed is refused (nothing comes back), however long the request ran.
    await store.destroy(sid);
    await store.set(sid, read);
    expect(await store.get(sid)).toBeNull();
    // A fresh session under a sid the store never read (as express-session creates) is stored.
    const fresh = newSid();
    await store.set(fresh, sessionFor(60_000, { user: "u" }));
    expect(await store.get(fresh)).not.toBeNull();
  });
});
