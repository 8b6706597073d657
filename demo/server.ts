/**
 * Runs the demo: `npm run demo` (PORT, REDIS_URL and SESSION_SECRET are optional).
 *
 * Redis comes from the helper the tests use: REDIS_URL if set, else a private redis-server
 * spawned for this run (stopped on exit), else Testcontainers.
 */
import { createServer } from "node:http";
import { RelsSession } from "../src/index.js";
import { provideRedis } from "../test/helpers/redis.js";
import { createDemoApp } from "./app.js";
import { DEMO_LIFETIMES } from "./sensitive.js";
import { LOCAL_PLACES, locateFromTable } from "./location.js";

const HOST = "127.0.0.1";
const port = parsePort(process.env.PORT);

const redis = await provideRedis();
console.log(`[demo] Redis: ${describeRedis(redis.source, redis.url)}`);

RelsSession.configure({
  applicationName: "Turtle demo",
  redisOptions: { url: redis.url, namespace: "rels:demo" },
  // A day from sign-in for a browser session, 30 days with "Remember me" (demo/sensitive.ts).
  sessions: { lifetimes: DEMO_LIFETIMES },
});
// As the README does: fail at start, naming host, port and why, rather than at the first page.
try {
  await RelsSession.ready();
} catch (error) {
  console.error(`[demo] ${(error as Error).message}`);
  await redis.stop();
  process.exit(1);
}

// Places from a built-in table of this machine's addresses: no lookup service, no network
// (README "Approximate location" has the recipe for real places from a local database).
const server = createServer(createDemoApp({ locate: locateFromTable(LOCAL_PLACES) }));

server.once("error", (err) => {
  console.error(`[demo] cannot listen on ${HOST}:${port}: ${err.message}`);
  void shutdown(1);
});

server.listen(port, HOST, () => {
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  console.log(`[demo] Turtle demo on http://${HOST}:${actual}/  (Ctrl-C to stop)`);
});

let stopping = false;
let firstSignalAt = 0;

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Whatever hangs, do not outlive a few seconds.
  setTimeout(() => {
    console.error("[demo] shutdown timed out; exiting");
    process.exit(1);
  }, 10_000).unref();
  try {
    if (server.listening) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Browsers keep connections open; give requests in flight a moment, then cut them.
      setTimeout(() => server.closeAllConnections(), 2_000).unref();
      await closed;
    }
    await RelsSession.close();
  } catch (err) {
    console.error("[demo] while closing:", err);
    code = 1;
  } finally {
    await redis.stop().catch((err: unknown) => console.error("[demo] while stopping Redis:", err));
  }
  console.log("[demo] stopped");
  process.exitCode = code;
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (stopping) {
      // Ctrl-C reaches us twice at once (from the terminal and via npm/tsx): only a second
      // press, a moment later, means "stop waiting".
      if (Date.now() - firstSignalAt > 1_000) process.exit(130);
      return;
    }
    firstSignalAt = Date.now();
    console.log(`[demo] ${signal}: shutting down`);
    void shutdown(0);
  });
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 3000;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) {
    console.error(`[demo] PORT must be an integer from 0 to 65535 (given: ${JSON.stringify(value)})`);
    process.exit(2);
  }
  return parsed;
}

function describeRedis(source: string, url: string): string {
  let shown = url;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    shown = parsed.toString();
  } catch {
    shown = "(unparseable URL)";
  }
  switch (source) {
    case "env":
      return `REDIS_URL ${shown} (keys under rels:demo)`;
    case "spawned":
      return `private redis-server at ${shown}, stopped with the demo`;
    case "container":
      return `Testcontainers redis:7-alpine at ${shown}, stopped with the demo`;
    default:
      return shown;
  }
}
