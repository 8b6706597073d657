/**
 * Requests a test holds open after they loaded their session: how the revocation tests put a
 * destroy, a revoke or a `clear()` between a request's read and its save (or touch).
 */
import type express from "express";
import request from "supertest";
import type { RelsSessionsManager } from "../../src/index.js";
import { appSession } from "./express-app.js";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The next slow request: `entered` resolves once its route holds the session; it goes on at `release`. */
interface Gate {
  readonly entered: ReturnType<typeof deferred>;
  readonly release: ReturnType<typeof deferred>;
}

/** The slow routes of one or more apps, and the queue of gates they take in order. */
export class SlowRequests {
  readonly #gates: Gate[] = [];

  /**
   * Add the slow routes to `app`:
   * - `POST /slow-write` changes the session (express-session saves it at the end);
   * - `POST /slow-record` records the request with `manager` (a new User-Agent is a change);
   * - `GET /slow-read` changes nothing (express-session touches it at the end).
   */
  addRoutes(app: express.Express, manager: RelsSessionsManager): express.Express {
    const hold = async () => {
      const gate = this.#gates.shift()!;
      gate.entered.resolve();
      await gate.release.promise;
    };
    app.post("/slow-write", async (req, res) => {
      await hold();
      appSession(req).visits = (appSession(req).visits ?? 0) + 1;
      res.json({ hadUser: appSession(req).userId ?? null });
    });
    app.post("/slow-record", async (req, res) => {
      await hold();
      const userId = appSession(req).userId;
      if (userId) await manager.recordAuthenticatedRequest(userId, req, { expiresAfter: 3_600_000 });
      res.json({ hadUser: userId ?? null });
    });
    app.get("/slow-read", async (req, res) => {
      await hold();
      res.json({ hadUser: appSession(req).userId ?? null });
    });
    return app;
  }

  /** Start `method path` with `cookie`; resolves once the route holds the loaded session. */
  async start(
    target: express.Express,
    method: "get" | "post",
    path: string,
    cookie: string,
    headers: Record<string, string> = {},
  ): Promise<{ finish(): Promise<request.Response> }> {
    const gate: Gate = { entered: deferred(), release: deferred() };
    this.#gates.push(gate);
    let slow = request(target)[method](path).set("Cookie", cookie);
    for (const [name, value] of Object.entries(headers)) slow = slow.set(name, value);
    const done = slow.then((res) => res);
    await gate.entered.promise;
    return {
      finish: () => {
        gate.release.resolve();
        return done;
      },
    };
  }
}
