/**
 * The README's "Use" example, run exactly as written (with `rels-session` resolved to src/
 * through tsconfig paths): sign in twice as one user, list, revoke.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, inject, it } from "vitest";

const url = inject("redisUrl");
let child: ChildProcess | undefined;
let file: string | undefined;

afterAll(() => {
  child?.kill("SIGKILL");
  if (file) rmSync(file, { force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

function exampleFromReadme(): string {
  const readme = readFileSync("README.md", "utf8");
  const use = readme.slice(readme.indexOf("## Use"));
  const match = /```ts\n([\s\S]*?)```/.exec(use);
  if (!match?.[1]) throw new Error("README has no ```ts block under ## Use");
  return match[1];
}

async function waitUntilServing(base: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child?.exitCode !== null) throw new Error(`the example exited:\n${output()}`);
    const ok = await fetch(`${base}/account`, { redirect: "manual" }).then(() => true, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the example did not start:\n${output()}`);
}

describe("README example", () => {
  it("runs as written: sign in on two devices, list, revoke one", async () => {
    mkdirSync(".tmp", { recursive: true });
    file = `.tmp/readme-example-${randomUUID()}.ts`;
    writeFileSync(file, exampleFromReadme());
    const port = await freePort();
    // The example's namespace is fixed ("rels:session"); the test user is unique, so it
    // only ever reads what it wrote through the example's own routes.
    let output = "";
    child = spawn(process.execPath, ["--import", "tsx", file], {
      env: { ...process.env, REDIS_URL: url, PORT: String(port), SESSION_SECRET: randomUUID() },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const base = `http://127.0.0.1:${port}`;
    await waitUntilServing(base, () => output);

    const user = `readme-${randomUUID()}`;
    const login = async (userAgent: string) => {
      const res = await fetch(`${base}/login`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", "user-agent": userAgent },
        body: `username=${encodeURIComponent(user)}`,
      });
      expect(res.status).toBe(302);
      return res.headers.get("set-cookie")!.split(";")[0]!;
    };
    const iphone = await login("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1");
    const desktop = await login("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36");

    const account = async (cookie: string) => fetch(`${base}/account`, { headers: { cookie }, redirect: "manual" });
    const listed = (await (await account(desktop)).json()) as Array<{ sessionId: string; current: boolean; clientPlatform: string }>;
    expect(listed.map((s) => s.clientPlatform).sort()).toEqual(["mobile_web", "web"]);
    const phone = listed.find((s) => !s.current)!;
    expect(phone.clientPlatform).toBe("mobile_web");

    const revoke = await fetch(`${base}/sessions/${phone.sessionId}/revoke`, { method: "POST", headers: { cookie: desktop } });
    expect(await revoke.json()).toEqual({ revoked: true });
    expect((await account(iphone)).status).toBe(302);
    expect((await account(desktop)).status).toBe(200);
  });
});
