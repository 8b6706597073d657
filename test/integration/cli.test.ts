import { keysOf } from "../support/internals.js";
import { randomUUID } from "node:crypto";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { RelsRedisStore, RelsSessionsManager } from "../../src/index.js";
import { runCli } from "../../src/cli/program.js";
import { newSid, sessionFor } from "../support/store-contract.js";

const url = inject("redisUrl");
const namespace = `t-cli-${randomUUID()}`;
const client = new Redis(url);
const store = new RelsRedisStore({ client, namespace });
const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });

afterAll(async () => {
  await client.quit();
});

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["--url", url, "--namespace", namespace, ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: {},
  });
  return { code, out, err };
}

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
    const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const [first, second] = [await signIn("u-1", chrome), await signIn("u-1", chrome)];
    await signIn("u-2", chrome);

    const stats = await cli("--json", "stats");
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.out[0]!)).toMatchObject({ totalSessions: 3, byApplication: { Turtle: 3 }, byPlatform: { web: 3 } });

    const listed = await cli("list", "u-1");
    expect(listed.out).toHaveLength(2);
    const handle = listed.out[0]!.split("\t")[0]!;
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

  it("rebuilds the counters with reconcile", async () => {
    await client.del(keysOf(store).statsRegistry());
    const result = await cli("--json", "reconcile");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out[0]!).totalSessions).toBe(1);
    expect(result.err.some((l) => l.startsWith("scanned"))).toBe(true);
  });

  it("fails with a usage error, and a clear message when Redis is unreachable", async () => {
    const usage = await cli("revoke", "u-1");
    expect(usage.code).toBe(2);
    expect(usage.err.join("\n")).toContain("give session handles, or --all");

    const downErr: string[] = [];
    const invalidErr: string[] = [];
    const down = await runCli(["--url", "redis://127.0.0.1:1", "stats"], { out: () => {}, err: (l) => downErr.push(l), env: {} });
    expect(down).toBe(1);
    expect(downErr.join("\n")).toMatch(/Redis/);

    const invalid = await runCli(["--url", "http://nope", "stats"], { out: () => {}, err: (l) => invalidErr.push(l), env: {} });
    expect(invalid).toBe(1);
    expect(invalidErr.join("\n")).toContain("redisOptions.url");
  });

  it("prints its version", async () => {
    const out: string[] = [];
    expect(await runCli(["--version"], { out: (l) => out.push(l), err: () => {}, env: {} })).toBe(0);
    expect(out).toEqual([JSON.parse(readFileSync("package.json", "utf8")).version]);
  });

  it("runs as a program (the bin entry)", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", "--help"], { encoding: "utf8" });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("Inspect and manage rels-session sessions");
  });
});
