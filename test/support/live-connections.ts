/**
 * An app with long-lived connections tied to sessions (issue 21 item 3), on a real HTTP server:
 * - `POST /login {userId}` signs in (regenerate, then the manager records it);
 * - `GET /live` is a Server-Sent Events stream closed by `closeOnRevoke`;
 * - a WebSocket upgrade on `/ws` (the `ws` package), read through the same session
 *   middleware, closed by `closeOnRevoke` too;
 * and clients for both that say when, how and why they were closed. Revocations come from
 * elsewhere: another process (`revokeFromAnotherProcess`, the CLI), or the test.
 */
import { spawn } from "node:child_process";
import { createServer, get, ServerResponse, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import session from "express-session";
import { WebSocket, WebSocketServer } from "ws";
import type { RelsSessionInstance } from "../../src/index.js";
import { appSession, regenerate } from "./express-app.js";

const SECRET = "rels-session-live-secret";

export interface LiveApp {
  readonly base: string;
  /** Sign `userId` in on a new session: its cookie (`sid=…`) and sid. */
  login(userId: string): Promise<{ cookie: string; sid: string }>;
  close(): Promise<void>;
}

export function startLiveApp(instance: RelsSessionInstance): Promise<LiveApp> {
  const sessions = session({
    store: instance.store,
    secret: SECRET,
    name: "sid",
    resave: false,
    saveUninitialized: false,
  });
  const app = express();
  app.use(express.json());
  app.use(sessions);
  app.post("/login", async (req, res) => {
    try {
      const userId = String(req.body.userId);
      await regenerate(req);
      appSession(req).userId = userId;
      await instance.manager.recordAuthenticatedRequest(userId, req);
      // Saved before answering: express-session answers 200 even when its own save at the
      // end fails, and the test would only see a signed-out cookie later.
      await new Promise<void>((done, fail) => req.session.save((error) => (error ? fail(error) : done())));
      res.json({ userId });
    } catch (error) {
      res.status(500).json({ error: String(error) });
    }
  });
  app.get("/live", (req, res) => {
    if (!appSession(req).userId) return void res.status(401).end();
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    res.write(": open\n\n");
    instance.closeOnRevoke(req, res);
  });
  const server: Server = createServer(app);
  const sockets = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req: IncomingMessage, socket, head) => {
    // The session middleware reads the cookie of the upgrade request as it would a request's.
    const res = new ServerResponse(req);
    sessions(req as express.Request, res as express.Response, () => {
      const userId = appSession(req as express.Request).userId;
      if (!userId) return void socket.destroy();
      sockets.handleUpgrade(req, socket, head, (ws) => {
        instance.closeOnRevoke(req, ws); // the upgrade's IncomingMessage, as the docs show
        ws.send("open");
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve({
        base,
        async login(userId) {
          const res = await fetch(`${base}/login`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ userId }),
          });
          if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
          const cookie = res.headers.getSetCookie()[0]!.split(";")[0]!;
          const value = decodeURIComponent(cookie.slice("sid=".length));
          return { cookie, sid: value.slice(2, value.lastIndexOf(".")) };
        },
        async close() {
          for (const client of sockets.clients) client.terminate();
          sockets.close();
          server.closeAllConnections();
          await new Promise((done) => server.close(done));
        },
      });
    });
  });
}

/** How a connection ended: when (performance.now()), and what the server said last. */
export interface Ended {
  readonly at: number;
  /** SSE: the last `event: revoked`'s reason, if any; WebSocket: the close reason text. */
  readonly reason: string | undefined;
  /** WebSocket close code; undefined for SSE. */
  readonly code?: number;
}

export interface OpenConnection {
  /** Resolves when the server ends the connection. */
  readonly ended: Promise<Ended>;
  /** Whether it has ended so far. */
  readonly isOpen: () => boolean;
  close(): void;
}

/** An SSE stream of `/live` with `cookie`, resolved once the server has answered. */
export function openEventStream(base: string, cookie: string): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    const req = get(`${base}/live`, { headers: { cookie, accept: "text/event-stream" } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`/live answered ${res.statusCode}`));
      let text = "";
      let open = true;
      const ended = new Promise<Ended>((done) => {
        res.on("end", () => {
          open = false;
          const revoked = /event: revoked\ndata: (.*)\n/.exec(text);
          done({
            at: performance.now(),
            reason: revoked ? (JSON.parse(revoked[1]!) as { reason: string }).reason : undefined,
          });
        });
      });
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const first = text === "";
        text += chunk;
        if (first) resolve({ ended, isOpen: () => open, close: () => req.destroy() });
      });
      res.on("error", () => undefined);
    });
    req.on("error", reject);
  });
}

/** A WebSocket on `/ws` with `cookie`, resolved once the server's first message arrived. */
export function openWebSocket(base: string, cookie: string): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace("http", "ws")}/ws`, { headers: { cookie } });
    let open = true;
    const ended = new Promise<Ended>((done) =>
      ws.on("close", (code, reason) => {
        open = false;
        done({ at: performance.now(), code, reason: reason.toString() });
      }),
    );
    ws.once("message", () => resolve({ ended, isOpen: () => open, close: () => ws.terminate() }));
    ws.once("error", reject);
  });
}

/**
 * `rels-session revoke <user> <handle>` in a child process (the CLI from src/, through tsx):
 * resolves with the time (performance.now()) it printed that it revoked, which it does once
 * the revocation is acknowledged. The child is then stopped: on Sentinel the CLI prints its
 * result but its process lingers (ioredis's sentinel connections; main has the same).
 */
export function revokeFromAnotherProcess(flags: string[], userId: string, handle: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...flags, "revoke", userId, handle],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, REDIS_URL: "" } },
    );
    let output = "";
    let printedAt: number | undefined;
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
      if (printedAt === undefined && /revoked [1-9]\d* session/.test(output)) {
        printedAt = performance.now();
        resolve(printedAt);
        child.kill();
      }
    });
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.once("error", reject);
    child.once("close", (status) => {
      if (printedAt === undefined) reject(new Error(`rels-session revoke exited ${status}: ${output}`));
    });
  });
}

/** A generous "did not hang" bound for a close that is expected well within a second. */
export const HANG_MS = 15_000;

/** `ended`, or an error naming `what` past the hang bound. */
export async function within<T>(ended: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      ended,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} was not closed within ${HANG_MS} ms`)), HANG_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
