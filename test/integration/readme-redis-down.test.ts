/**
 * The README's "Use" example, run as written, while its Redis dies and comes back: every
 * request is answered 503 with Retry-After (JSON or HTML by Accept) and none is a 500, and
 * once Redis is back sign-in works again. Uses its own redis-server: it kills it.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { readmeExample, runExample, type RunningExample } from "../support/example-process.js";

let server: SpawnedRedis | undefined;
let example: RunningExample | undefined;

afterAll(async () => {
  example?.stop();
  await server?.dispose();
});

interface Answer {
  readonly path: string;
  readonly status: number;
  readonly retryAfter: string | null;
  readonly type: string;
  readonly body: string;
}

describe("README example while Redis is down", () => {
  it("answers 503 with Retry-After, never 500, and recovers when Redis is back", async () => {
    server = await spawnRedisServer();
    example = await runExample(
      readmeExample("## Use"),
      { REDIS_URL: server.url, SESSION_SECRET: randomUUID() },
      "/account",
    );
    const { base } = example;
    const answers: Answer[] = [];
    const ask = async (path: string, init: RequestInit = {}): Promise<Answer> => {
      const res = await fetch(`${base}${path}`, { redirect: "manual", ...init });
      const answer = {
        path,
        status: res.status,
        retryAfter: res.headers.get("retry-after"),
        type: res.headers.get("content-type") ?? "",
        body: await res.text(),
      };
      answers.push(answer);
      return answer;
    };
    const login = async (user: string) => {
      const res = await ask("/login", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `username=${encodeURIComponent(user)}`,
      });
      return res;
    };
    /** Poll (no sleep for readiness): ask until `done`, at most `ms`. */
    const until = async (what: string, attempt: () => Promise<boolean>, ms = 20_000) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (await attempt()) return;
        await delay(50);
      }
      throw new Error(
        `${what} within ${ms} ms; answers: ${JSON.stringify(answers.slice(-5))}\n${example?.output() ?? ""}`,
      );
    };

    const user = `down-${randomUUID()}`;
    const signedIn = await fetch(`${base}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `username=${encodeURIComponent(user)}`,
    });
    expect(signedIn.status).toBe(302);
    const cookie = signedIn.headers.get("set-cookie")!.split(";")[0]!;
    expect((await ask("/account", { headers: { cookie } })).status).toBe(200);

    // ---- Redis dies
    await server.kill();
    await until("a 503 for a signed-in JSON client", async () => {
      const a = await ask("/account", { headers: { cookie, accept: "application/json" } });
      return a.status === 503;
    });
    const json = await ask("/account", { headers: { cookie, accept: "application/json" } });
    expect(json.status).toBe(503);
    expect(Number(json.retryAfter)).toBeGreaterThan(0);
    expect(json.type).toMatch(/json/);
    expect(JSON.parse(json.body)).toMatchObject({ error: "session_unavailable" });

    const html = await ask("/", { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" } });
    expect(html.status).toBe(503);
    expect(Number(html.retryAfter)).toBeGreaterThan(0);
    expect(html.type).toMatch(/html/);
    expect(html.body).toContain("Temporarily unavailable");
    expect((await login(`${user}-2`)).status).toBe(503);

    // ---- Redis is back (empty: it keeps nothing on disk)
    await server.restart();
    await until("sign-in working again", async () => (await login(user)).status === 302);
    const again = answers.at(-1)!;
    expect(again.status).toBe(302);

    // Not one 500 (nor any other 5xx than 503) from the first request to the last.
    const failures = answers.filter((a) => a.status >= 500 && a.status !== 503);
    expect(failures, example.output()).toEqual([]);
    expect(answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
  }, 60_000);
});
