/**
 * The README's "Use" example, run exactly as written (with `rels-session` resolved to src/
 * through tsconfig paths): sign in twice as one user, list, revoke.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, inject, it } from "vitest";
import { readmeExample, runExample, type RunningExample } from "../support/example-process.js";

const url = inject("redisUrl");
let example: RunningExample | undefined;

afterAll(() => {
  example?.stop();
});

describe("README example", () => {
  it("runs as written: sign in on two devices, list, revoke one", async () => {
    // The example's namespace is fixed ("rels:session"); the test user is unique, so it
    // only ever reads what it wrote through the example's own routes.
    example = await runExample(
      readmeExample("## Use"),
      { REDIS_URL: url, SESSION_SECRET: randomUUID() },
      "/account",
    );
    const { base } = example;

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
    const iphone = await login(
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    );
    const desktop = await login(
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    );

    const account = async (cookie: string) =>
      fetch(`${base}/account`, { headers: { cookie }, redirect: "manual" });
    const listed = (await (await account(desktop)).json()) as Array<{
      sessionId: string;
      current: boolean;
      clientPlatform: string;
    }>;
    expect(listed.map((s) => s.clientPlatform).sort()).toEqual(["mobile_web", "web"]);
    const phone = listed.find((s) => !s.current)!;
    expect(phone.clientPlatform).toBe("mobile_web");

    const revoke = await fetch(`${base}/sessions/${phone.sessionId}/revoke`, {
      method: "POST",
      headers: { cookie: desktop },
    });
    expect(await revoke.json()).toEqual({ revoked: true });
    expect((await account(iphone)).status).toBe(302);
    expect((await account(desktop)).status).toBe(200);
  });
});
