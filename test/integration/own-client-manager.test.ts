/**
 * A store on the app's own ioredis client (`new RelsRedisStore({ client })`) gets a working
 * manager from the same store: `SessionsManager.for(store, { applicationName })`. Before it,
 * the facade's NotConfiguredError points there rather than back at `{ client }`. Against the
 * shared test Redis, under a namespace of its own.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import {
  ConfigError,
  NotConfiguredError,
  RelsRedisStore,
  RelsSession,
  SessionsManager,
  createRelsSession,
} from "../../src/index.js";
import { login, signInApp } from "../support/express-app.js";

const url = inject("redisUrl");
const namespace = `t-own-${randomUUID()}`;
const client = new Redis(url);

afterAll(async () => {
  // Our namespace only: never anything else on a Redis we may not own.
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${namespace}*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== "0");
  client.disconnect();
});

describe("SessionsManager.for(store)", () => {
  it("before it, the facade's NotConfiguredError names SessionsManager.for(store), not the { client } route already taken", async () => {
    expect(RelsSession.isConfigured).toBe(false);
    let error: unknown;
    try {
      await SessionsManager.activeSessions("alice");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NotConfiguredError);
    expect((error as Error).message).toContain("SessionsManager.for(store, { applicationName })");
    expect((error as Error).message).not.toContain("give the store an ioredis client");
    // The store's own error still names both routes to a store.
    expect(() => new RelsRedisStore()).toThrow(/new RelsRedisStore\(\{ client \}\)/);
  });

  it("gives a store on the app's client a manager that records, lists and revokes through that client", async () => {
    const store = new RelsRedisStore({ client, namespace });
    const manager = SessionsManager.for(store, { applicationName: "Turtle" });
    const app = signInApp(store, {
      onLogin: (userId, req) => manager.recordAuthenticatedRequest(userId, req),
    });
    const first = await login(app, "alice", {});
    const second = await login(app, "alice", {});

    const listed = await manager.activeSessions("alice");
    expect(listed.map((s) => s.applicationName)).toEqual(["Turtle", "Turtle"]);
    // Filed under the app's client, in Redis: the user's index holds both sessions.
    expect(await client.zcard(`${namespace}:user:{alice}`)).toBe(2);

    expect(await manager.logoutAllSessions("alice")).toBe(2);
    expect(await store.get(first.sid)).toBeNull();
    expect(await store.get(second.sid)).toBeNull();
    expect(await manager.activeSessions("alice")).toEqual([]);
  });

  it("is one manager per store (its onSignIn listeners shared); other settings for the same store are a ConfigError naming them", () => {
    const store = new RelsRedisStore({ client, namespace });
    const manager = SessionsManager.for(store, { applicationName: "Turtle" });
    expect(SessionsManager.for(store, { applicationName: "Turtle" })).toBe(manager);
    expect(
      SessionsManager.for(new RelsRedisStore({ client, namespace }), { applicationName: "Turtle" }),
    ).not.toBe(manager);
    let error: unknown;
    try {
      SessionsManager.for(store, { applicationName: "Hare", lastSeenInterval: 5000 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
      "SessionsManager.for.applicationName",
      "SessionsManager.for.lastSeenInterval",
    ]);
    expect(() => SessionsManager.for(store, { applicationName: " " })).toThrow(
      /SessionsManager\.for\.applicationName/,
    );
  });

  it("for the store of createRelsSession(), is the instance's own manager", async () => {
    const sessions = createRelsSession(
      { applicationName: "Turtle", redisOptions: { url, namespace } },
      { env: {} },
    );
    try {
      expect(SessionsManager.for(sessions.store, { applicationName: "Turtle" })).toBe(sessions.manager);
    } finally {
      await sessions.close();
    }
  });
});
