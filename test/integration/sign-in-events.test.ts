/**
 * Sign-in events on a real Redis: `isNewDevice` judged from the user's other live sessions,
 * listeners that fail kept away from the request, nothing read on ordinary requests.
 */
import { dropStats } from "../support/internals.js";
import { randomUUID } from "node:crypto";
import type express from "express";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { RelsRedisStore } from "../../src/express/store.js";
import type { Logger } from "../../src/types.js";
import type { SignInEvent } from "../../src/users/sign-in-events.js";
import { appSession, signInApp } from "../support/express-app.js";
import { countRoundTrips } from "../support/round-trips.js";
import { UA } from "../support/user-agents.js";

const url = inject("redisUrl");

interface LoggedError {
  details: Record<string, unknown>;
  message: string;
}

/** Events in arrival order; `next()` waits for the next one (no polling on a clock). */
class EventQueue {
  readonly #events: SignInEvent[] = [];
  readonly #waiting: ((event: SignInEvent) => void)[] = [];
  readonly listener = (event: SignInEvent): void => {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(event);
    else this.#events.push(event);
  };
  next(): Promise<SignInEvent> {
    const ready = this.#events.shift();
    return ready ? Promise.resolve(ready) : new Promise((resolve) => this.#waiting.push(resolve));
  }
  get pending(): number {
    return this.#events.length;
  }
}

let client: Redis;
let store: RelsRedisStore;
let manager: RelsSessionsManager;
let app: express.Express;
const logged: LoggedError[] = [];
const errorLogged: ((entry: LoggedError) => void)[] = [];
const logger: Logger = {
  warn: () => undefined,
  error: (details, message) => {
    const entry = { details: details as Record<string, unknown>, message };
    logged.push(entry);
    errorLogged.shift()?.(entry);
  },
};
const nextError = (): Promise<LoggedError> => new Promise((resolve) => errorLogged.push(resolve));

beforeAll(() => {
  client = new Redis(url);
  store = new RelsRedisStore({ client, namespace: `t-signin-${randomUUID()}` });
  manager = new RelsSessionsManager({ store, applicationName: "Turtle", logger });
  app = signInApp(store, {
    onLogin: (userId, req) => manager.recordAuthenticatedRequest(userId, req, { sessionKeyType: "cookie" }),
  });
  // An ordinary signed-in request, recorded as trackSessions would.
  app.get("/ordinary", async (req, res) => {
    const userId = appSession(req).userId;
    if (userId !== undefined)
      await manager.recordAuthenticatedRequest(userId, req, { sessionKeyType: "cookie" });
    res.json({ userId: userId ?? null });
  });
});

afterAll(async () => {
  await store.clear().catch(() => undefined);
  await dropStats(store).catch(() => undefined);
  await client.quit();
});

type Agent = ReturnType<typeof request.agent>;

/** A device: its own cookie jar, always sending the same headers. */
function device(headers: Record<string, string>): { agent: Agent; signIn(userId: string): Promise<void> } {
  const agent = request.agent(app);
  return {
    agent,
    async signIn(userId) {
      await agent.post("/login").set(headers).send({ userId }).expect(200, { userId });
    },
  };
}

describe("onSignIn", () => {
  it("reports the first sign-in of a device as new, the same device again as known, a new browser as new", async () => {
    const events = new EventQueue();
    const off = manager.onSignIn(events.listener);
    try {
      const user = `u-${randomUUID()}`;
      await device({ "User-Agent": UA.windowsChrome }).signIn(user);
      const first = await events.next();
      expect(first).toMatchObject({ userId: user, isNewDevice: true });
      expect(first.session).toMatchObject({
        userId: user,
        browser: { name: "Chrome" },
        os: { name: "Windows" },
        deviceType: "desktop",
      });

      // The same browser on the same OS, in a second window (another cookie jar): known.
      await device({ "User-Agent": UA.windowsChrome.replace("141.0.0.0", "142.0.0.0") }).signIn(user);
      const again = await events.next();
      expect(again.isNewDevice).toBe(false);
      expect(again.session.sessionId).not.toBe(first.session.sessionId);

      // Firefox on the same PC, and Chrome on a phone: new devices.
      await device({ "User-Agent": UA.windowsFirefox }).signIn(user);
      expect((await events.next()).isNewDevice).toBe(true);
      await device({ "User-Agent": UA.pixelChrome }).signIn(user);
      expect((await events.next()).isNewDevice).toBe(true);

      // Another user's sessions say nothing about this user's devices.
      await device({ "User-Agent": UA.windowsChrome }).signIn(`other-${randomUUID()}`);
      expect((await events.next()).isNewDevice).toBe(true);
    } finally {
      off();
    }
  });

  it("knows an app installation by its id, whatever its user agent says", async () => {
    const events = new EventQueue();
    const off = manager.onSignIn(events.listener);
    try {
      const user = `u-${randomUUID()}`;
      const installation = {
        appversion: "3.2",
        "x-installation-id": `inst-${randomUUID()}`,
        "x-device": "Pixel 8",
      };
      await device({ ...installation, "User-Agent": UA.okhttp }).signIn(user);
      expect(await events.next()).toMatchObject({
        isNewDevice: true,
        session: { deviceType: "app", app: { version: "3.2" } },
      });
      await device({ ...installation, "User-Agent": UA.dalvik }).signIn(user);
      expect((await events.next()).isNewDevice).toBe(false);
      await device({
        ...installation,
        "x-installation-id": `inst-${randomUUID()}`,
        "User-Agent": UA.appIphone,
        "x-device": "iPhone15,2",
      }).signIn(user);
      expect((await events.next()).isNewDevice).toBe(true);
    } finally {
      off();
    }
  });

  it("a session signed out no longer makes its device known", async () => {
    const events = new EventQueue();
    const off = manager.onSignIn(events.listener);
    try {
      const user = `u-${randomUUID()}`;
      const mac = device({ "User-Agent": UA.macSafari });
      await mac.signIn(user);
      expect((await events.next()).isNewDevice).toBe(true);
      await manager.logoutAllSessions(user);
      await device({ "User-Agent": UA.macSafari }).signIn(user);
      expect((await events.next()).isNewDevice).toBe(true);
    } finally {
      off();
    }
  });

  it("fires once per sign-in: ordinary requests neither fire it nor read anything more", async () => {
    const events = new EventQueue();
    const user = `u-${randomUUID()}`;
    const phone = device({ "User-Agent": UA.iphoneSafari });
    const counter = countRoundTrips(client);
    try {
      await phone.signIn(user);
      counter.reset();
      await phone.agent.get("/ordinary").set("User-Agent", UA.iphoneSafari).expect(200, { userId: user });
      const withoutListener = counter.commands;

      const off = manager.onSignIn(events.listener);
      try {
        counter.reset();
        await phone.agent.get("/ordinary").set("User-Agent", UA.iphoneSafari).expect(200, { userId: user });
        expect(counter.commands).toEqual(withoutListener);
        // A sign-in after those requests is the first event the queue sees.
        await device({ "User-Agent": UA.iphoneSafari }).signIn(user);
        expect((await events.next()).isNewDevice).toBe(false);
        expect(events.pending).toBe(0);
      } finally {
        off();
      }
    } finally {
      counter.restore();
    }
  });

  it("a listener that throws or rejects breaks neither the sign-in nor the other listeners; the logger hears of it", async () => {
    const events = new EventQueue();
    const offs = [
      manager.onSignIn(() => {
        throw new Error("mailer down");
      }),
      manager.onSignIn(() => Promise.reject(new Error("queue full"))),
      manager.onSignIn(events.listener),
    ];
    try {
      const user = `u-${randomUUID()}`;
      const errors = [nextError(), nextError()];
      const desktop = device({ "User-Agent": UA.windowsEdge });
      await desktop.signIn(user);
      // The sign-in stuck: the session is saved and signed in.
      await desktop.agent.get("/me").expect(200, { userId: user });
      const event = await events.next();
      expect(event.isNewDevice).toBe(true);
      const reported = await Promise.all(errors);
      expect(reported.map((e) => e.message)).toEqual([
        "rels-session: a sign-in listener failed",
        "rels-session: a sign-in listener failed",
      ]);
      expect(reported.map((e) => (e.details["err"] as Error).message).sort()).toEqual([
        "mailer down",
        "queue full",
      ]);
      // The session's handle names it in the log, never the cookie's sid.
      expect(reported.map((e) => e.details["session"])).toEqual([
        event.session.sessionId,
        event.session.sessionId,
      ]);
      const cookie = String(
        desktop.agent.jar.getCookies({ domain: "127.0.0.1", path: "/", secure: false, script: false })[0]
          ?.value ?? "",
      );
      expect(cookie).toMatch(/^s%3A.{32}/);
      for (const entry of logged)
        expect(JSON.stringify(entry.details)).not.toContain(decodeURIComponent(cookie).slice(2, 34));
    } finally {
      for (const off of offs) off();
    }
  });

  it("unsubscribing stops the events", async () => {
    const seen: SignInEvent[] = [];
    const events = new EventQueue();
    const off = manager.onSignIn((event) => {
      seen.push(event);
    });
    const keep = manager.onSignIn(events.listener);
    off();
    try {
      await device({ "User-Agent": UA.linuxFirefox }).signIn(`u-${randomUUID()}`);
      await events.next();
      expect(seen).toEqual([]);
    } finally {
      keep();
    }
  });
});
