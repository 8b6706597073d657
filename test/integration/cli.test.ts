import { dropStats } from "../support/internals.js";
import { randomUUID } from "node:crypto";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { runCli } from "../../src/cli/program.js";
import { spawnRedisServer } from "../helpers/redis.js";
import { deleteNamespace } from "../support/cleanup.js";
import { newSid, sessionFor } from "../support/store-contract.js";
import { UA } from "../support/user-agents.js";

const url = inject("redisUrl");
const namespace = `t-cli-${randomUUID()}`;
const client = new Redis(url);
const store = new RelsRedisStore({ client, namespace });
const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });

afterAll(async () => {
  await client.quit();
});

/** Runs the CLI in this process; `tty` gives it a progress sink that says it is a terminal (or not). */
async function cli(...args: string[]) {
  return cliIn(namespace, args);
}

async function cliIn(ns: string, args: string[], progress?: { isTTY: boolean }, on = url) {
  const out: string[] = [];
  const err: string[] = [];
  const drawn: string[] = [];
  const code = await runCli(["--url", on, "--namespace", ns, ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: {},
    ...(progress ? { progress: { isTTY: progress.isTTY, write: (text: string) => drawn.push(text) } } : {}),
  });
  return { code, out, err, drawn };
}

/** The CLI as a program, through a shell (for pipes); resolves when it exits, with timings. */
function runProgram(shellCommand: string): Promise<{
  status: number | null;
  stdout: string;
  stderr: string;
  firstOutputAt: number;
  exitedAt: number;
}> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-o", "pipefail", "-c", shellCommand], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let firstOutputAt = 0;
    const seen = () => (firstOutputAt ||= performance.now());
    child.stdout.on("data", (d: Buffer) => {
      seen();
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      seen();
      stderr += d.toString();
    });
    child.once("error", reject);
    child.once("close", (status) =>
      resolve({ status, stdout, stderr, firstOutputAt, exitedAt: performance.now() }),
    );
  });
}

const CLI = `${JSON.stringify(process.execPath)} --import tsx src/cli.ts`;
/** Starting node with tsx takes seconds on a busy machine; a hang check, not a speed test. */
const CHILD_TIMEOUT = 90_000;
const LINGER_BOUND = 1500;

/** A signed-in session, written the way express-session would at the end of a login. */
async function signIn(userId: string, userAgent: string): Promise<string> {
  const sid = newSid();
  const session = sessionFor(3_600_000);
  const req = { sessionID: sid, session, ip: "203.0.113.9", headers: { "user-agent": userAgent } };
  await manager.recordAuthenticatedRequest(userId, req as never);
  await store.set(sid, session);
  return sid;
}

describe("rels-session CLI", () => {
  it("prints stats, lists and revokes a user's sessions, dumps metadata", async () => {
    const chrome =
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const [first, second] = [await signIn("u-1", chrome), await signIn("u-1", chrome)];
    await signIn("u-2", chrome);

    const stats = await cli("--json", "stats");
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.out[0]!)).toMatchObject({
      totalSessions: 3,
      byApplication: { Turtle: 3 },
      byPlatform: { web: 3 },
    });

    const listed = await cli("list", "u-1");
    expect(listed.out).toHaveLength(3);
    expect(listed.out[0]!.split("\t")).toEqual([
      "HANDLE",
      "DEVICE",
      "PLATFORM",
      "APP",
      "IP",
      "SIGNED IN",
      "LAST SEEN",
      "EXPIRES",
      "USER AGENT",
    ]);
    const row = listed.out[1]!.split("\t");
    const handle = row[0]!;
    // The device as the account page names it (describeSession).
    expect(row.slice(1, 5)).toEqual(["Chrome on Windows", "web", "Turtle", "203.0.113.9"]);
    // sign-in, last-seen and expiry times
    for (const time of row.slice(5, 8)) expect(new Date(time).getTime()).not.toBeNaN();
    expect(new Date(row[7]!).getTime()).toBeGreaterThan(Date.now());
    expect(row[8]).toBe(chrome);
    expect(listed.out.join("\n")).not.toContain(first);

    const dump = await cli("dump", "--batch", "1");
    expect(dump.out.map((l) => JSON.parse(l).userId).sort()).toEqual(["u-1", "u-1", "u-2"]);

    const revoked = await cli("revoke", "u-1", handle);
    expect(revoked.out).toEqual(["revoked 1 session(s)"]);
    const remaining = [await store.get(first), await store.get(second)].filter(Boolean);
    expect(remaining).toHaveLength(1);

    expect((await cli("revoke", "u-1", "--all")).out).toEqual(["revoked 1 session(s)"]);
    expect((await cli("list", "u-1")).out).toEqual(['no active sessions for user "u-1"']);
    expect((await cli("count")).out).toEqual(["1"]);
  });

  it("list names each device as the account page does, in text and under --json", async () => {
    const labelled = `t-cli-labels-${randomUUID()}`;
    const labelledStore = new RelsRedisStore({ client, namespace: labelled });
    const labelledManager = new RelsSessionsManager({ store: labelledStore, applicationName: "Turtle" });
    try {
      const devices = [UA.iphoneSafari, UA.curl, undefined];
      for (const userAgent of devices) {
        const sid = newSid();
        const session = sessionFor(3_600_000);
        const req = {
          sessionID: sid,
          session,
          ip: "::ffff:192.0.2.8",
          headers: userAgent === undefined ? {} : { "user-agent": userAgent },
        };
        await labelledManager.recordAuthenticatedRequest("u-labels", req as never);
        await labelledStore.set(sid, session);
      }
      const text = await cliIn(labelled, ["list", "u-labels"]);
      expect(text.code).toBe(0);
      const rows = text.out.slice(1).map((line) => line.split("\t"));
      expect(rows.map((row) => row[1]).sort()).toEqual(["Safari on iPhone", "Unknown device", "curl"]);
      // The address an IPv4 client had on a dual-stack socket, as IPv4.
      expect(rows.map((row) => row[4])).toEqual(["192.0.2.8", "192.0.2.8", "192.0.2.8"]);
      const json = await cliIn(labelled, ["--json", "list", "u-labels"]);
      const listed = JSON.parse(json.out[0]!) as { sessionId: string; label: string }[];
      expect(listed.map((s) => s.label).sort()).toEqual(["Safari on iPhone", "Unknown device", "curl"]);
      // Same order and handles in both forms.
      expect(listed.map((s) => [s.sessionId, s.label])).toEqual(rows.map((row) => [row[0], row[1]]));
    } finally {
      await deleteNamespace(url, labelled);
    }
  });

  it("rebuilds the counters with reconcile, with no progress off a terminal unless --progress", async () => {
    await dropStats(store);
    const result = await cliIn(namespace, ["--json", "reconcile"], { isTTY: false });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out[0]!).totalSessions).toBe(1);
    expect(result.drawn).toEqual([]);
    expect(result.err).toEqual([]);

    const logged = await cliIn(namespace, ["--progress", "reconcile"], { isTTY: false });
    expect(logged.out).toEqual(["total sessions after reconcile: 1"]);
    // Plain lines for a log: no carriage return, no escape codes.
    expect(logged.drawn.at(-1)).toBe("reconcile: 1 sessions, done\n");
    expect(logged.drawn.join("")).not.toContain("\r");
    expect(logged.drawn.join("")).not.toContain("\x1b");
  });

  it("on a terminal, count and reconcile redraw one progress line in place: count, estimate from DBSIZE, percentage", async () => {
    for (const command of ["count", "reconcile"]) {
      const result = await cliIn(namespace, [command], { isTTY: true });
      expect(result.code).toBe(0);
      const frames = result.drawn;
      expect(frames.length).toBeGreaterThanOrEqual(2);
      // Every frame returns to the start of the line and clears it; only the last ends it.
      for (const frame of frames) expect(frame.startsWith("\r\x1b[K")).toBe(true);
      expect(frames.slice(0, -1).every((f) => !f.endsWith("\n"))).toBe(true);
      expect(frames[0]).toMatch(
        new RegExp(`^\\r\\x1b\\[K${command}: \\d+ sessions, \\d+% of ~[\\d,]+ keys$`),
      );
      expect(frames.at(-1)).toBe(`\r\x1b[K${command}: 1 sessions, done\n`);
    }
  });

  it("exit codes: 2 for usage and invalid settings, 3 for Redis unreachable (with host and reason), fast", async () => {
    const usage = await cli("revoke", "u-1");
    expect(usage.code).toBe(2);
    expect(usage.err.join("\n")).toContain("give session handles, or --all");
    expect((await cli("list")).code).toBe(2);
    expect((await cli("--db", "x", "count")).code).toBe(2);

    const downErr: string[] = [];
    const invalidErr: string[] = [];
    const started = performance.now();
    const down = await runCli(["--url", "redis://127.0.0.1:1", "stats"], {
      out: () => {},
      err: (l) => downErr.push(l),
      env: {},
    });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(down).toBe(3);
    expect(downErr).toEqual([
      "rels-session: Cannot connect to Redis at 127.0.0.1:1: connection refused (connect ECONNREFUSED 127.0.0.1:1)",
    ]);

    const invalid = await runCli(["--url", "http://nope", "stats"], {
      out: () => {},
      err: (l) => invalidErr.push(l),
      env: {},
    });
    expect(invalid).toBe(2);
    expect(invalidErr.join("\n")).toContain("redisOptions.url");
  });

  it("under --json, errors are one JSON object on stderr", async () => {
    const down = await cliIn(namespace, ["--json", "--url", "redis://127.0.0.1:1", "stats"]);
    expect(down.code).toBe(3);
    expect(down.err).toHaveLength(1);
    expect(JSON.parse(down.err[0]!)).toEqual({
      error: {
        name: "RedisConnectionError",
        message:
          "Cannot connect to Redis at 127.0.0.1:1: connection refused (connect ECONNREFUSED 127.0.0.1:1)",
        exitCode: 3,
        address: "127.0.0.1:1",
        reason: "connection refused",
      },
    });
    const usage = await cli("--json", "revoke", "u-1");
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.err.join(""))).toMatchObject({
      error: { message: "revoke: give session handles, or --all", exitCode: 2 },
    });
    const unknown = await cli("--json", "--no-such-flag", "stats");
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.err.join(""))).toMatchObject({
      error: { message: expect.stringContaining("--no-such-flag") },
    });
    const config = await cliIn(namespace, ["--json", "--url", "http://nope", "stats"]);
    expect(JSON.parse(config.err.join(""))).toMatchObject({
      error: { name: "ConfigError", issues: [{ path: "redisOptions.url" }] },
    });
  });

  it("a refused database fails with exit 3 instead of reading database 0", async () => {
    const result = await cliIn(namespace, ["--url", `${url}/99`, "count"]);
    expect(result.code).toBe(3);
    expect(result.out).toEqual([]);
    expect(result.err.join("\n")).toMatch(/database refused \(ERR DB index is out of range\)/);
    expect((await cliIn(namespace, ["--db", "99", "count"])).code).toBe(3);
  });

  it("revoke that matches nothing says so and exits 1", async () => {
    const unknownHandle = await cli("revoke", "u-2", "no-such-handle");
    expect(unknownHandle.code).toBe(1);
    expect(unknownHandle.err.join("\n")).toContain(
      'revoked 0 session(s) of user "u-2"; 1 of 1 handle(s) matched no session of this user',
    );
    const nobody = await cli("revoke", "nobody", "--all");
    expect(nobody.code).toBe(1);
    expect(nobody.err.join("\n")).toContain('user "nobody" has no sessions; nothing revoked');
  });

  it("says where the sessions are when the namespace asked for holds none (revocation markers are no namespace)", async () => {
    // A server of its own: the note comes from a bounded search, which a shared server's keys would exhaust.
    const own = await spawnRedisServer();
    const client = new Redis(own.url);
    try {
      const other = `t-cli-other-${randomUUID()}`;
      const store = new RelsRedisStore({ client, namespace: other });
      await store.set(`s-${randomUUID()}`, sessionFor(60_000, { n: 1 }));
      const revoked = `s-${randomUUID()}`;
      await store.set(revoked, sessionFor(60_000, { n: 1 }));
      await store.destroy(revoked);
      const empty = `t-cli-empty-${randomUUID()}`;
      for (const command of [["stats"], ["count"], ["list", "u-2"], ["dump"]]) {
        const result = await cliIn(empty, command, undefined, own.url);
        expect(result.code).toBe(0);
        expect(result.err.join("\n")).toContain(
          `note: namespace "${empty}" holds no sessions; sessions exist under "${other}"\n`.trimEnd(),
        );
        expect(result.err.join("\n")).not.toContain(":tomb");
      }
      // Not when the namespace has sessions, even if the user asked for has none.
      expect((await cliIn(other, ["list", "nobody"], undefined, own.url)).err).toEqual([]);
    } finally {
      client.disconnect();
      await own.dispose();
    }
  });

  it("prints its version", async () => {
    const out: string[] = [];
    expect(await runCli(["--version"], { out: (l) => out.push(l), err: () => {}, env: {} })).toBe(0);
    expect(out).toEqual([JSON.parse(readFileSync("package.json", "utf8")).version]);
  });

  it(
    "stops quietly when its reader goes away (dump | head -n 2, list | head -1)",
    async () => {
      const many = `t-cli-many-${randomUUID()}`;
      const manyStore = new RelsRedisStore({ client, namespace: many });
      const manyManager = new RelsSessionsManager({ store: manyStore, applicationName: "Turtle" });
      await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const sid = newSid();
          const session = sessionFor(3_600_000);
          const req = { sessionID: sid, session, ip: "203.0.113.9", headers: { "user-agent": "curl/8" } };
          await manyManager.recordAuthenticatedRequest(`bulk-${i % 2}`, req as never);
          await manyStore.set(sid, session);
        }),
      );
      const base = `${CLI} --url ${url} --namespace ${many}`;
      const dump = await runProgram(`${base} dump --batch 10 | head -n 2`);
      expect(dump.stderr).toBe("");
      expect(dump.status).toBe(0);
      expect(dump.stdout.trim().split("\n")).toHaveLength(2);
      const list = await runProgram(`${base} list bulk-0 | head -1`);
      expect(list.stderr).toBe("");
      expect(list.status).toBe(0);
      expect(list.stdout.startsWith("HANDLE\t")).toBe(true);
    },
    CHILD_TIMEOUT,
  );

  it(
    "as a program: fails fast against an unreachable Redis and exits promptly after it (no linger)",
    async () => {
      const run = await runProgram(`${CLI} --url redis://127.0.0.1:1 count`);
      expect(run.status).toBe(3);
      expect(run.stderr).toContain("127.0.0.1:1: connection refused");
      // Between printing the error and exiting: nothing left to wait for. ioredis's 2 s
      // disconnect timer kept it alive 2 s; the bound leaves room for a busy machine.
      expect(run.exitedAt - run.firstOutputAt).toBeLessThan(LINGER_BOUND);

      const ok = await runProgram(`${CLI} --url ${url} --namespace ${namespace} count`);
      expect(ok.status).toBe(0);
      expect(ok.exitedAt - ok.firstOutputAt).toBeLessThan(LINGER_BOUND);
    },
    CHILD_TIMEOUT,
  );

  it("runs as a program (the bin entry)", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", "--help"], {
      encoding: "utf8",
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("Inspect and manage rels-session sessions");
  });
});
