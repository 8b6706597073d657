/**
 * Promises about meaning rather than storage (issue 8, semantics):
 * - a numeric `touchAfter` at or above the session lifetime does not sign active users out
 *   (the store clamps the throttle to half the lifetime);
 * - `reconcile()` racing sign-outs leaves no phantom count;
 * - an ioredis client made with `keyPrefix` is refused with a ConfigError saying why.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import express from "express";
import session from "express-session";
import { Cluster, Redis } from "ioredis";
import request from "supertest";
import { describe, expect, inject, it } from "vitest";
import { ConfigError, RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { SessionStats } from "../../src/stats/stats.js";
import { expectSessionCookie, whoAmI } from "../support/express-app.js";
import { signInMany } from "../support/signed-in.js";
import { clientsForThisFile } from "../support/stores.js";

const url = inject("redisUrl");
const { client } = clientsForThisFile();

describe("a numeric touchAfter at or above the session lifetime", () => {
  it("keeps an active user signed in under rolling: true (4 s cookie, touchAfter: 5)", async () => {
    const store = new RelsRedisStore({ client, namespace: `t-${randomUUID()}`, touchAfter: 5 });
    const app = express();
    app.use(express.json());
    app.use(
      session({
        store,
        secret: "semantics-secret",
        name: "sid",
        resave: false,
        saveUninitialized: false,
        rolling: true,
        cookie: { maxAge: 4_000 },
      }),
    );
    app.post("/login", (req, res) => {
      (req.session as unknown as { userId: string }).userId = String(req.body.userId);
      res.json({ ok: true });
    });
    // An unchanged request: express-session only touches the session (rolling: true).
    app.get("/me", (req, res) => {
      res.json({ userId: (req.session as unknown as { userId?: string }).userId ?? null });
    });

    const user = `u-${randomUUID()}`;
    const cookie = expectSessionCookie(await request(app).post("/login").send({ userId: user }).expect(200));
    const startedAt = Date.now();
    const answers: Array<{ atMs: number; userId: string | null }> = [];
    // About one request a second for 6.5 s: past the 4 s lifetime, and past touchAfter's 5 s.
    // The pacing is the scenario (an active user), not a wait for readiness.
    for (let i = 0; i < 30 && Date.now() - startedAt < 6_500; i++) {
      await delay(1_000);
      answers.push({ atMs: Date.now() - startedAt, userId: await whoAmI(app, cookie) });
    }
    expect(answers.at(-1)!.atMs, "the user stayed active past the cookie's lifetime").toBeGreaterThan(5_000);
    expect(
      answers.filter((a) => a.userId !== user),
      "every request of the active user was signed in",
    ).toEqual([]);
  }, 20_000);
});

describe("reconcile() racing sign-outs", () => {
  it("leaves no phantom count once both end", async () => {
    const SESSIONS = 600;
    // Each round starts the revocation at a different step of the reconcile (after `round`
    // of its pages), so it lands in different gaps between reading a page and refiling it.
    for (let round = 0; round < 6; round++) {
      const store = new RelsRedisStore({ client, namespace: `t-${randomUUID()}`, scanCount: 20 });
      const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
      const stats = new SessionStats(store);
      const user = `u-${randomUUID()}`;
      await signInMany(store, manager, user, SESSIONS);
      expect((await stats.totals()).totalSessions, `round ${round}: signed in`).toBe(SESSIONS);
      let pages = 0;
      let startRevoking!: () => void;
      const started = new Promise<void>((resolve) => (startRevoking = resolve));
      if (round === 0) startRevoking();
      const revocation = started.then(() => manager.logoutAllSessions(user));
      await stats.reconcile({
        onProgress: () => {
          pages += 1;
          if (pages === round) startRevoking();
        },
      });
      // A reconcile shorter than `round` pages: revoke after it (the count must still end at 0).
      startRevoking();
      expect(await revocation, `round ${round}: every session revoked`).toBe(SESSIONS);
      const totals = await stats.totals();
      expect(totals.totalSessions, `round ${round}: no phantom count`).toBe(0);
      expect(totals.byApplication["Turtle"] ?? 0, `round ${round}: no phantom count for the app`).toBe(0);
    }
  }, 60_000);
});

describe("an ioredis client with keyPrefix", () => {
  it("is refused with a ConfigError saying why and what to use instead", async () => {
    // lazyConnect: the check happens before any command, so nothing connects.
    const prefixed = new Redis(url, { keyPrefix: "app:", lazyConnect: true });
    const cluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { keyPrefix: "app:", lazyConnect: true });
    const clusterViaRedisOptions = new Cluster([{ host: "127.0.0.1", port: 1 }], {
      redisOptions: { keyPrefix: "app:" },
      lazyConnect: true,
    });
    try {
      for (const [label, bad] of [
        ["Redis", prefixed],
        ["Cluster", cluster],
        ["Cluster with redisOptions.keyPrefix", clusterViaRedisOptions],
      ] as const) {
        let error: unknown;
        try {
          new RelsRedisStore({ client: bad, namespace: `t-${randomUUID()}` });
        } catch (e) {
          error = e;
        }
        expect(error, `${label}: refused`).toBeInstanceOf(ConfigError);
        const { issues, message } = error as ConfigError;
        expect(
          issues.map((i) => i.path),
          label,
        ).toEqual(["store.client"]);
        expect(message, `${label}: says what breaks`).toMatch(/keyPrefix/);
        expect(message, `${label}: says why`).toMatch(/SCAN|scan/);
        expect(message, `${label}: says what to use instead`).toMatch(/`prefix`.*`namespace`/);
      }
      expect(prefixed.status, "the check sent nothing").toBe("wait");
    } finally {
      prefixed.disconnect();
      cluster.disconnect();
      clusterViaRedisOptions.disconnect();
    }
  });

  it("an unprefixed client is accepted, and scans see its sessions", async () => {
    const plain = new Redis(url, { keyPrefix: "" });
    try {
      const store = new RelsRedisStore({ client: plain, namespace: `t-${randomUUID()}` });
      await store.set("a-session-id", {
        cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) },
      } as never);
      expect(await store.length()).toBe(1);
    } finally {
      await plain.quit();
    }
  });
});
