/**
 * Revocation events on a standalone server (issue 21 item 3): the suite every topology runs,
 * then what one server lets a test count exactly: one event per revocation of each kind, with
 * its reason, handle, user and application, and no raw sid in any message; nothing for a
 * delete that is not a revocation; listeners that throw; the re-check after the subscriber
 * reconnects; and no extra round trip on a request.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { SessionData } from "express-session";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createRelsSession, RelsRedisStore, type RevocationEvent } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { privateHex, sessionHandle } from "../../src/ids.js";
import { recordsOf } from "../../src/record/of-store.js";
import { TUNABLES } from "../../src/tunables.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { waitUntil } from "../helpers/redis/wait.js";
import { deleteNamespace } from "../support/cleanup.js";
import { keysOf, revocationsOf } from "../support/internals.js";
import {
  openEventStream,
  revokeFromAnotherProcess,
  startLiveApp,
  within,
} from "../support/live-connections.js";
import { describeRevocationEvents } from "../support/revocation-events-suite.js";
import { countRoundTrips } from "../support/round-trips.js";
import { newSid, signedInSession } from "../support/signed-in.js";

const url = inject("redisUrl");
const namespaces: string[] = [];
const fresh = () => {
  const namespace = `t-ev-${randomUUID()}`;
  namespaces.push(namespace);
  return namespace;
};

afterAll(async () => {
  for (const namespace of namespaces) await deleteNamespace(url, namespace);
});

describeRevocationEvents("standalone", () => ({
  instance: (namespace, options = {}) => {
    namespaces.push(namespace);
    return createRelsSession(
      { applicationName: "Turtle", redisOptions: { url, namespace }, sessions: options },
      { env: {} },
    );
  },
  cliFlags: () => ["--url", url],
}));

/** Every message of a store's revocation channel, read by a subscriber of the test's own. */
class ChannelTap {
  readonly messages: string[] = [];
  readonly #subscriber = new Redis(url);
  readonly #publisher = new Redis(url);
  readonly #channel: string;
  #fences = 0;

  constructor(channel: string) {
    this.#channel = channel;
    this.#subscriber.on("message", (_channel: string, text: string) => this.messages.push(text));
  }

  async start(): Promise<void> {
    await this.#subscriber.subscribe(this.#channel);
  }

  /**
   * What was published since the last call: a fence is published after the action and
   * waited for (one server keeps a channel's order), so the list is exact.
   */
  async drain(): Promise<string[]> {
    const fence = `fence ${++this.#fences}`;
    await this.#publisher.publish(this.#channel, fence);
    await waitUntil("the fence", async () => (this.messages.includes(fence) ? true : "not yet"), {
      timeoutMs: 10_000,
    });
    const got = this.messages.splice(0);
    return got.slice(0, got.indexOf(fence));
  }

  async close(): Promise<void> {
    await this.#subscriber.quit();
    await this.#publisher.quit();
  }
}

/** A store on a client of its own, its manager, and one signed-in session (`sid`), stored. */
async function signedInStore() {
  const client = new Redis(url);
  const store = new RelsRedisStore({ client, namespace: fresh() });
  const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
  const sid = newSid();
  await store.set(sid, await signedInSession(manager, sid, `u-${randomUUID()}`));
  const close = async () => {
    await store.close();
    await client.quit();
  };
  return { store, manager, sid, close };
}

describe("revocation events: one per revocation, of each kind", () => {
  let client: Redis;
  let store: RelsRedisStore;
  let manager: RelsSessionsManager;
  let tap: ChannelTap;
  const heard: RevocationEvent[] = [];
  const sids: string[] = [];
  let namespace: string;

  beforeAll(async () => {
    namespace = fresh();
    client = new Redis(url);
    store = new RelsRedisStore({ client, namespace, durableRevocation: false });
    manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
    manager.onRevoked((event) => heard.push(event));
    tap = new ChannelTap(recordsOf(store).revocationChannel);
    await Promise.all([tap.start(), revocationsOf(store).subscribed()]);
  });

  afterAll(async () => {
    await tap.close();
    await store.close();
    await client.quit();
  });

  /** A session of `userId` signed in through the manager (null: anonymous), stored. */
  async function signIn(userId: string | null): Promise<string> {
    const sid = newSid();
    sids.push(sid);
    const session = userId
      ? await signedInSession(manager, sid, userId)
      : ({ cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) } } as SessionData);
    await store.set(sid, session);
    return sid;
  }

  /** The events of the last action: each raw message holds no sid, and the listener heard the same. */
  async function eventsOf(action: () => Promise<unknown>): Promise<RevocationEvent[]> {
    heard.splice(0);
    await action();
    const raw = await tap.drain();
    for (const message of raw) for (const sid of sids) expect(message).not.toContain(sid);
    await waitUntil("the listener", async () => (heard.length >= raw.length ? true : "not yet"), {
      timeoutMs: 10_000,
    });
    expect(heard).toHaveLength(raw.length);
    return heard.splice(0);
  }

  const handleOf = (sid: string) => sessionHandle(privateHex(sid));
  const event = (reason: string, sid: string, userId: string | undefined) => ({
    reason,
    sessionId: handleOf(sid),
    userId,
    applicationName: userId === undefined ? undefined : "Turtle",
  });

  it("destroy: one event, the user's and the application's, or none of them for an anonymous session", async () => {
    const user = `u-${randomUUID()}`;
    const sid = await signIn(user);
    expect(await eventsOf(() => store.destroy(sid))).toEqual([event("destroy", sid, user)]);
    const anonymous = await signIn(null);
    expect(await eventsOf(() => store.destroy(anonymous))).toEqual([event("destroy", anonymous, undefined)]);
  });

  it('each logout*: one event per session revoked, as "logout"', async () => {
    const user = `u-${randomUUID()}`;
    const [a, b, c, d] = [await signIn(user), await signIn(user), await signIn(user), await signIn(user)];
    expect(await eventsOf(() => manager.logoutSession(user, handleOf(a!)))).toEqual([
      event("logout", a!, user),
    ]);
    expect(await eventsOf(() => manager.logoutSessions(user, [handleOf(b!)]))).toEqual([
      event("logout", b!, user),
    ]);
    const others = await eventsOf(() => manager.logoutOtherSessions(user, { sessionID: d!, headers: {} }));
    expect(others).toEqual([event("logout", c!, user)]);
    expect(await eventsOf(() => manager.logoutAllSessions(user))).toEqual([event("logout", d!, user)]);
  });

  it("a user id with characters percent-encoded in its index key comes back as it was", async () => {
    const user = `ünï {code} * ${randomUUID()}`;
    const sid = await signIn(user);
    expect(await eventsOf(() => manager.logoutAllSessions(user))).toEqual([event("logout", sid, user)]);
  });

  it('a cap eviction inside the write script: one event, "cap", for the session pushed out', async () => {
    const user = `u-${randomUUID()}`;
    const cap = recordsOf(store).maxSessionsPerUser;
    const capped = new RelsSessionsManager({ store, applicationName: "Turtle", maxSessionsPerUser: 1 });
    try {
      const first = await signIn(user);
      const events = await eventsOf(async () => {
        const sid = newSid();
        sids.push(sid);
        await store.set(sid, await signedInSession(capped, sid, user));
      });
      expect(events).toEqual([event("cap", first, user)]);
    } finally {
      recordsOf(store).maxSessionsPerUser = cap;
    }
  });

  it('a CLI revoke in another process: one event, "cli"', async () => {
    const user = `u-${randomUUID()}`;
    const sid = await signIn(user);
    const events = await eventsOf(() =>
      revokeFromAnotherProcess(["--url", url, "--namespace", namespace], user, handleOf(sid)),
    );
    expect(events).toEqual([event("cli", sid, user)]);
  });

  it('the revocation path carries any reason it is given (an absolute lifetime\'s expiry: "lifetime")', async () => {
    const user = `u-${randomUUID()}`;
    const sid = await signIn(user);
    const events = await eventsOf(() => recordsOf(store).destroy([privateHex(sid)], { reason: "lifetime" }));
    expect(events).toEqual([event("lifetime", sid, user)]);
  });

  it("clear(): one event for every session of the scope", async () => {
    await signIn(`u-${randomUUID()}`);
    await signIn(null);
    expect(await eventsOf(() => store.clear())).toEqual([{ reason: "clear" }]);
  });

  it("nothing for what is not a revocation: a session never stored, an expired cookie's save, a corrupt record", async () => {
    expect(await eventsOf(() => store.destroy(newSid()))).toEqual([]);
    const expired = await signIn(`u-${randomUUID()}`);
    const past = { cookie: { originalMaxAge: 1000, expires: new Date(Date.now() - 1000) } } as SessionData;
    expect(await eventsOf(() => store.set(expired, past))).toEqual([]);
    const corrupt = newSid();
    await client.set(keysOf(store).session(privateHex(corrupt)), "not a record");
    expect(await eventsOf(() => store.get(corrupt))).toEqual([]);
  });

  it("a listener that throws breaks neither the others nor the revocation; an unsubscribed one hears nothing", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(String(warning.code));
    process.on("warning", onWarning);
    const later: RevocationEvent[] = [];
    const gone: RevocationEvent[] = [];
    const stopThrowing = manager.onRevoked(() => {
      throw new Error("a listener's bug");
    });
    const stopLater = manager.onRevoked((e) => later.push(e));
    const stopGone = manager.onRevoked((e) => gone.push(e));
    stopGone();
    try {
      const user = `u-${randomUUID()}`;
      const sid = await signIn(user);
      expect(await eventsOf(() => store.destroy(sid))).toEqual([event("destroy", sid, user)]);
      expect(later).toEqual([event("destroy", sid, user)]);
      expect(gone).toEqual([]);
      await waitUntil("the warning", async () => (warnings.length > 0 ? true : "not yet"), {
        timeoutMs: 5000,
      });
      expect(warnings).toContain("RELS_SESSION_REVOCATION_LISTENER");
    } finally {
      stopThrowing();
      stopLater();
      process.off("warning", onWarning);
    }
  });
});

describe("the re-check after a reconnection, with many watched sessions", () => {
  it("looks them up a page at a time (TUNABLES.record.recheckPageSize), never all in one burst on the requests' connection", async () => {
    const namespace = fresh();
    const client = new Redis(url);
    const store = new RelsRedisStore({ client, namespace });
    await client.ping(); // connected: no command goes through the offline queue (sent twice)
    // The most commands in flight at once on the client (sent, not yet answered).
    let inFlight = 0;
    let most = 0;
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: Parameters<Redis["sendCommand"]>[0], stream) => {
      most = Math.max(most, ++inFlight);
      const settled = () => void (inFlight -= 1);
      command.promise.then(settled, settled);
      return send(command, stream);
    }) as Redis["sendCommand"];
    try {
      const page = TUNABLES.record.recheckPageSize;
      const hexes = Array.from({ length: 2 * page + 1 }, () => privateHex(newSid()));
      const alive = await recordsOf(store).existing(hexes);
      expect(alive).toHaveLength(hexes.length);
      expect(alive.every((found) => !found)).toBe(true);
      expect(most).toBe(page);
    } finally {
      await store.close();
      await client.quit();
    }
  });
});

describe("closeOnRevoke: an SSE response the app ended, or handed over twice", () => {
  it("is never written after its end (Node would emit an 'error' nobody listens to: an uncaught exception)", async () => {
    const { store, manager, sid, close } = await signedInStore();
    const server = createServer();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => void uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    try {
      await revocationsOf(store).subscribed();
      const opened = new Promise<ServerResponse>((resolve) =>
        server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write(": open\n\n");
          // Twice, by a middleware and by the route.
          manager.closeOnRevoke({ sessionID: sid }, res);
          manager.closeOnRevoke({ sessionID: sid }, res);
          resolve(res);
        }),
      );
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/live`);
      await opened;
      await store.destroy(sid);
      const body = await response.text();
      await new Promise((resolve) => setImmediate(resolve));
      expect(uncaught).toEqual([]);
      expect(body.match(/event: revoked/g)).toHaveLength(1);
    } finally {
      process.off("uncaughtException", onUncaught);
      server.close();
      await close();
    }
  });
});

describe("closeOnRevoke: a revocation between the request's read and the call", () => {
  it("closes the connection at once (gone), not at the subscriber's next reconnection, which may never come", async () => {
    const { store, manager, sid, close } = await signedInStore();
    try {
      const heard: RevocationEvent[] = [];
      manager.onRevoked((event) => void heard.push(event));
      await revocationsOf(store).subscribed();
      // The route read the session, then awaited something; meanwhile another device signed it
      // out, and its event came and went.
      const req = { sessionID: sid, session: (await store.get(sid))! };
      await store.destroy(sid);
      await waitUntil("the event", async () => (heard.length > 0 ? true : "not yet"), { timeoutMs: 5_000 });
      const closed: string[] = [];
      const ws = Object.assign(new EventEmitter(), {
        readyState: 1,
        close: (code: number, reason: string) => void closed.push(`${code} ${reason}`),
      });
      manager.closeOnRevoke(req, ws);
      await waitUntil("the close", async () => (closed.length > 0 ? true : "not yet"), { timeoutMs: 5_000 });
      expect(closed).toEqual(["4401 session gone"]);
      expect(revocationsOf(store).watchedSessions).toBe(0);
    } finally {
      await close();
    }
  });
});

describe("revocation events with Redis unreachable", () => {
  it("onRevoked and closeOnRevoke return at once, nothing is thrown or left unhandled, and stopping works", async () => {
    const client = new Redis("redis://127.0.0.1:1", { lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on("error", () => undefined);
    // Each subscriber connection attempt is a duplicate of the client: counted, to wait for a few.
    let attempts = 0;
    const duplicate = client.duplicate.bind(client);
    client.duplicate = ((...args: Parameters<Redis["duplicate"]>) => {
      attempts += 1;
      return duplicate(...args);
    }) as Redis["duplicate"];
    const store = new RelsRedisStore({ client, namespace: fresh() });
    const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
    const failures: unknown[] = [];
    const onFailure = (error: unknown) => void failures.push(error);
    process.on("uncaughtException", onFailure);
    process.on("unhandledRejection", onFailure);
    try {
      const stopListening = manager.onRevoked(() => undefined);
      const ws = Object.assign(new EventEmitter(), { readyState: 1, close: () => undefined });
      const stopWatching = manager.closeOnRevoke({ sessionID: newSid() }, ws);
      expect(revocationsOf(store).watchedSessions).toBe(1);
      await waitUntil("three connection attempts", async () => (attempts >= 3 ? true : `${attempts}`), {
        timeoutMs: 10_000,
      });
      stopWatching();
      stopListening();
      expect(revocationsOf(store).watchedSessions).toBe(0);
      expect(failures).toEqual([]);
    } finally {
      process.off("uncaughtException", onFailure);
      process.off("unhandledRejection", onFailure);
      await store.close();
      client.disconnect();
    }
  });
});

describe("closeOnRevoke: options a hurried app gets wrong", () => {
  it("a deadline that is not a time, or a close code a WebSocket refuses, is a ConfigError naming the field, at the call; a throwing onClose at the deadline is contained", async () => {
    const { store, manager, sid, close } = await signedInStore();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => void uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    const ws = () => Object.assign(new EventEmitter(), { readyState: 1, close: () => undefined });
    try {
      // new Date(undefined), Date.parse("garbage"): NaN, which setTimeout takes as 1 ms, forever.
      expect(() =>
        manager.closeOnRevoke({ sessionID: sid }, ws(), { deadline: new Date(Number.NaN) }),
      ).toThrow(/closeOnRevoke\.deadline/);
      expect(() => manager.closeOnRevoke({ sessionID: sid }, ws(), { deadline: Number.NaN })).toThrow(
        /closeOnRevoke\.deadline/,
      );
      // ws's close() throws on a code outside 1000–4999 (or a reserved one): from a revocation or a timer.
      expect(() => manager.closeOnRevoke({ sessionID: sid }, ws(), { closeCode: 99_999 })).toThrow(
        /closeOnRevoke\.closeCode/,
      );
      expect(revocationsOf(store).watchedSessions).toBe(0);
      let told = false;
      manager.closeOnRevoke({ sessionID: sid }, ws(), {
        deadline: Date.now() + 20,
        onClose: () => {
          told = true;
          throw new Error("the app's onClose bug");
        },
      });
      await waitUntil("the deadline", async () => (told ? true : "not yet"), { timeoutMs: 5_000 });
      await new Promise((resolve) => setImmediate(resolve));
      expect(uncaught).toEqual([]);
    } finally {
      process.off("uncaughtException", onUncaught);
      await close();
    }
  });
});

describe("revocation events: an async listener that rejects", () => {
  it("is reported like one that throws, never an unhandled rejection (which ends a Node process)", async () => {
    const namespace = fresh();
    const client = new Redis(url);
    const store = new RelsRedisStore({ client, namespace });
    const errors: unknown[] = [];
    const logger = { warn: () => undefined, error: (fields: unknown) => void errors.push(fields) };
    const manager = new RelsSessionsManager({ store, applicationName: "Turtle", logger });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    const heard: RevocationEvent[] = [];
    try {
      manager.onRevoked(async () => {
        await Promise.resolve();
        throw new Error("the audit log is down");
      });
      manager.onRevoked((event) => void heard.push(event));
      await revocationsOf(store).subscribed();
      const sid = newSid();
      await store.set(sid, await signedInSession(manager, sid, `u-${randomUUID()}`));
      await store.destroy(sid);
      await waitUntil("the report", async () => (errors.length > 0 ? true : "not yet"), { timeoutMs: 5_000 });
      // A turn for an unhandled rejection to be noticed, had there been one.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(heard).toHaveLength(1);
      expect(unhandled).toEqual([]);
      expect(errors).toMatchObject([{ err: { message: "the audit log is down" } }]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await store.close();
      await client.quit();
    }
  });
});

describe("revocation events: no extra round trip on a request", () => {
  it("a request that is not revoked costs what it did, with a listener and a watched connection", async () => {
    const namespace = fresh();
    const client = new Redis(url);
    const store = new RelsRedisStore({ client, namespace });
    const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
    const counter = countRoundTrips(client);
    try {
      const sid = newSid();
      await store.set(sid, await signedInSession(manager, sid, `u-${randomUUID()}`));
      const readOnce = async () => {
        counter.reset();
        await store.get(sid);
        return { roundTrips: counter.roundTrips, commands: [...counter.commands] };
      };
      const before = await readOnce();
      manager.onRevoked(() => undefined);
      const stop = manager.closeOnRevoke(
        { sessionID: sid },
        { write: () => true, end: () => undefined, once: () => undefined },
      );
      await revocationsOf(store).subscribed();
      const after = await readOnce();
      expect(before).toEqual({ roundTrips: 1, commands: ["get"] });
      expect(after).toEqual(before);
      stop();
    } finally {
      counter.restore();
      await store.close();
      await client.quit();
    }
  });
});

describe("revocation events: one namespace in two databases", () => {
  it("each store hears its own database's revocations only (pub/sub is one per server)", async () => {
    const namespace = fresh();
    const stores = [2, 3].map((db) => {
      const client = new Redis(url, { db });
      const store = new RelsRedisStore({ client, namespace, durableRevocation: false });
      const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
      const heard: RevocationEvent[] = [];
      manager.onRevoked((event) => heard.push(event));
      return { client, store, manager, heard };
    });
    try {
      await Promise.all(stores.map(({ store }) => revocationsOf(store).subscribed()));
      const sids = await Promise.all(
        stores.map(async ({ store, manager }) => {
          const sid = newSid();
          await store.set(sid, await signedInSession(manager, sid, `u-${randomUUID()}`));
          return sid;
        }),
      );
      await stores[0]!.store.destroy(sids[0]!);
      await stores[1]!.store.destroy(sids[1]!);
      // The second destroy's event reaching the second store fences the first's.
      await waitUntil(
        "both events",
        async () => (stores.every((s) => s.heard.length > 0) ? true : "not yet"),
        {
          timeoutMs: 5_000,
        },
      );
      expect(stores.map((s) => s.heard.map((e) => ("sessionId" in e ? e.sessionId : e.reason)))).toEqual(
        sids.map((sid) => [sessionHandle(privateHex(sid))]),
      );
    } finally {
      for (const { store, client } of stores) {
        await store.close();
        await client.quit();
      }
    }
  });
});

describe("revocation events: a subscriber that was disconnected during a revocation", () => {
  let server: SpawnedRedis;

  beforeAll(async () => {
    server = await spawnRedisServer();
  }, 60_000);

  afterAll(async () => {
    await server?.dispose();
  });

  it("an ACL user without the channel's permission still revokes; its subscriber stops and says why", async () => {
    const namespace = `t-ev-${randomUUID()}`;
    const admin = new Redis(server.url);
    const user = `nochannels-${randomUUID()}`;
    // Keys and commands allowed, no pub/sub channel (Redis 7's default for a new user).
    await admin.acl("SETUSER", user, "on", ">secret", "~*", "+@all", "resetchannels");
    const aclUrl = server.url.replace("redis://", `redis://${user}:secret@`);
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(String(warning.code));
    process.on("warning", onWarning);
    const instance = createRelsSession(
      { applicationName: "Turtle", redisOptions: { url: aclUrl, namespace } },
      { env: {} },
    );
    try {
      instance.onRevoked(() => undefined);
      await waitUntil(
        "the refusal's warning",
        async () => (warnings.includes("RELS_SESSION_REVOCATION_EVENTS_REFUSED") ? true : "not yet"),
        { timeoutMs: 10_000 },
      );
      const sid = newSid();
      await instance.store.set(sid, await signedInSession(instance.manager, sid, `u-${randomUUID()}`));
      await instance.store.destroy(sid);
      expect(await instance.store.get(sid)).toBeNull();
      expect(await instance.manager.logoutAllSessions("nobody")).toBe(0);
      await instance.store.clear();
    } finally {
      process.off("warning", onWarning);
      await instance.close();
      await admin.acl("DELUSER", user);
      await admin.quit();
    }
  });

  it("misses the event, and still closes the connection once it has reconnected (the re-check)", async () => {
    const namespace = `t-ev-${randomUUID()}`;
    const instance = createRelsSession(
      { applicationName: "Turtle", redisOptions: { url: server.url, namespace } },
      { env: {} },
    );
    const heard: RevocationEvent[] = [];
    instance.onRevoked((e) => heard.push(e));
    const app = await startLiveApp(instance);
    const admin = new Redis(server.url);
    const revokerClient = new Redis(server.url);
    const revoker = new RelsRedisStore({ client: revokerClient, namespace, durableRevocation: false });
    try {
      await revocationsOf(instance.store).subscribed();
      const user = `u-${randomUUID()}`;
      const gone = await app.login(user);
      const kept = await app.login(user);
      const [sse, other] = await Promise.all([
        openEventStream(app.base, gone.cookie),
        openEventStream(app.base, kept.cookie),
      ]);
      // The subscriber is killed and the session revoked in one write on one connection (a
      // source corks its connection for the turn): Redis runs both before the subscriber can
      // connect again, so the event is lost for certain.
      await recordsOf(revoker).source.run(async (c) => {
        const killed = c.client("KILL", "TYPE", "pubsub");
        await Promise.all([killed, revoker.destroy(gone.sid)]);
        expect(await killed).toBe(1);
      });
      const ended = await within(sse.ended, "the revoked session's SSE stream");
      expect(ended.reason).toBe("gone");
      expect(
        heard.filter((e) => e.reason !== "clear" && e.sessionId === sessionHandle(privateHex(gone.sid))),
      ).toEqual([]);
      expect(other.isOpen()).toBe(true);
      // Subscribed again: the next revocation is heard as it happens.
      const [, subscribers] = (await admin.pubsub("NUMSUB", recordsOf(instance.store).revocationChannel)) as [
        string,
        number,
      ];
      expect(subscribers).toBe(1);
      await revoker.destroy(kept.sid);
      expect((await within(other.ended, "the other SSE stream")).reason).toBe("destroy");
    } finally {
      await app.close();
      await instance.close();
      await revoker.close();
      await revokerClient.quit();
      await admin.quit();
    }
  }, 60_000);
});

describe("closeOnRevoke: a connection already closed when it is handed over", () => {
  it("is not watched (no entry, no timer left behind): an SSE response whose client went away, a ws WebSocket closed, a Socket.IO socket disconnected", async () => {
    const { store, manager, sid, close } = await signedInStore();
    const server = createServer();
    try {
      await revocationsOf(store).subscribed();
      // A real SSE response whose client aborted before the route got to closeOnRevoke (it
      // awaited something first): its "close" event has already fired, and never fires again.
      const received = new Promise<ServerResponse>((resolve) =>
        server.on("request", (_req: IncomingMessage, res: ServerResponse) => resolve(res)),
      );
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as AddressInfo;
      const aborted = new AbortController();
      const pending = fetch(`http://127.0.0.1:${port}/live`, { signal: aborted.signal }).catch(
        () => undefined,
      );
      const res = await received;
      const closed = new Promise((resolve) => res.once("close", resolve));
      aborted.abort();
      await Promise.all([pending, closed]);
      const deadline = Date.now() + 3_600_000;
      const onClose: string[] = [];
      manager.closeOnRevoke({ sessionID: sid }, res, { deadline, onClose: (why) => onClose.push(why) });
      // A ws WebSocket and a Socket.IO socket already closed: their close events are over too.
      const ws = Object.assign(new EventEmitter(), { readyState: 3, close: () => undefined });
      manager.closeOnRevoke({ sessionID: sid }, ws, { deadline });
      const io = Object.assign(new EventEmitter(), { disconnected: true, disconnect: () => undefined });
      manager.closeOnRevoke({ sessionID: sid }, io, { deadline });
      expect(revocationsOf(store).watchedSessions).toBe(0);
      expect(onClose).toEqual([]);
    } finally {
      server.close();
      await close();
    }
  });
});
