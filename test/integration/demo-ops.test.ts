/**
 * The demo's operations side: `/metrics` in Prometheus text format (read back after real
 * sign-ins), 503 + Retry-After while its store is disconnected, and `npm run demo` stopped
 * with SIGTERM taking its whole tree down (the demo and the redis-server it spawned).
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { RelsSession } from "../../src/index.js";
import { freePort } from "../support/example-process.js";
import { demoForThisFile } from "../support/demo-app.js";

const APPLICATION = "Turtle demo (ops test)";
const demo = demoForThisFile(APPLICATION);
const IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/** The value of the sample `name{labels}` in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const found = /^[^{ ]+(?:\{(.*)\})? (\S+)/.exec(line);
    if (!found) continue;
    const pairs = Object.fromEntries(
      [...(found[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    delete pairs.otel_scope_name;
    delete pairs.otel_scope_version;
    delete pairs.otel_scope_schema_url;
    if (
      Object.keys(pairs).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => pairs[k] === v)
    ) {
      return Number(found[2]);
    }
  }
  return undefined;
}

describe("demo /metrics", () => {
  it("serves live totals, latencies and the breaker in Prometheus text", async () => {
    const agent = request.agent(demo.app);
    await agent
      .post("/login")
      .set("User-Agent", IPHONE)
      .type("form")
      .send({ username: `ops-${randomUUID()}` })
      .expect(303);
    await agent.get("/account").set("User-Agent", IPHONE).expect(200);

    const res = await request(demo.app).get("/metrics").expect(200);
    expect(res.headers["content-type"]).toMatch(/text\/plain/);
    const text = res.text;
    expect(text).toContain("# TYPE rels_session_sessions_live gauge");
    expect(sample(text, "rels_session_sessions_live", { application: APPLICATION })).toBe(1);
    expect(sample(text, "rels_session_sessions_live", { platform: "mobile_web" })).toBe(1);
    expect(sample(text, "rels_session_breaker_state", { state: "closed" })).toBe(1);
    expect(text).toMatch(/# TYPE rels_session_operation_duration\w* histogram/);
    const count = /^rels_session_operation_duration\w*_count\{[^}]*operation="set"[^}]*\} (\d+)/m.exec(text);
    expect(Number(count?.[1])).toBeGreaterThan(0);
  });

  it("answers 503 with Retry-After while the store is disconnected", async () => {
    // What express-session does on the store's "disconnect": skip it, leaving req.session unset.
    RelsSession.store().emit("disconnect");
    try {
      const json = await request(demo.app).get("/account").set("Accept", "application/json").expect(503);
      expect(json.headers["retry-after"]).toMatch(/^\d+$/);
      expect(json.body).toMatchObject({ error: "session_unavailable" });
      const html = await request(demo.app).get("/").set("Accept", "text/html").expect(503);
      expect(html.text).toContain("Temporarily unavailable");
      // /metrics needs no session: it still answers, so the outage can be seen.
      await request(demo.app).get("/metrics").expect(200);
    } finally {
      RelsSession.store().emit("connect");
    }
    await request(demo.app).get("/").expect(200);
  });
});

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function pollUntil(
  what: string,
  done: () => Promise<boolean>,
  output: () => string,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return;
    await delay(100);
  }
  throw new Error(`timed out waiting for ${what}; demo output:\n${output()}`);
}

describe("npm run demo", () => {
  it("stops the demo and the redis-server it spawned on SIGTERM to npm", async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) };
    // Without REDIS_URL the demo spawns its own redis-server: the one that must not outlive it.
    delete env.REDIS_URL;
    let output = "";
    // Its own process group, so that a failure here can still clean up every descendant.
    const npm = spawn("npm", ["run", "demo"], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    npm.stdout.on("data", (d: Buffer) => (output += d.toString()));
    npm.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => npm.once("exit", (code) => resolve(code)));
    let redisPort: number | undefined;
    try {
      await pollUntil(
        "the demo to answer",
        async () =>
          await fetch(`http://127.0.0.1:${port}/`).then(
            (r) => r.status === 200,
            () => false,
          ),
        () => output,
      );
      const spawned = /private redis-server at redis:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      expect(spawned, output).not.toBeNull();
      redisPort = Number(spawned![1]);
      expect(await listening(redisPort)).toBe(true);

      // As a process manager or `kill <pid>` does: the npm process only, not its group.
      npm.kill("SIGTERM");
      await pollUntil(
        "the demo's port to close",
        async () => !(await listening(port)),
        () => output,
      );
      await pollUntil(
        "the demo's redis-server to stop",
        async () => !(await listening(redisPort!)),
        () => output,
      );
      await exited;
      expect(output).toContain("[demo] stopped");
    } finally {
      // Only matters when the test failed: whatever of the tree is left goes.
      try {
        process.kill(-npm.pid!, "SIGKILL");
      } catch {
        // the group is gone: nothing left
      }
    }
  }, 60_000);
});
