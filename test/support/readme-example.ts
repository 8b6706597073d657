/**
 * The README's "Use" example as a running program: extracted from README.md as written,
 * run with `node --import tsx` (`rels-session` resolves to src/ through tsconfig paths) on
 * a free port, its output kept for error messages.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";

export interface RunningExample {
  readonly base: string;
  /** What the example printed so far (stdout and stderr). */
  output(): string;
  /** SIGKILL it and remove its file. */
  stop(): void;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export function exampleFromReadme(): string {
  const readme = readFileSync("README.md", "utf8");
  const use = readme.slice(readme.indexOf("## Use"));
  const match = /```ts\n([\s\S]*?)```/.exec(use);
  if (!match?.[1]) throw new Error("README has no ```ts block under ## Use");
  return match[1];
}

/** Start the example against `redisUrl`; resolves once it answers HTTP. */
export async function startReadmeExample(redisUrl: string): Promise<RunningExample> {
  mkdirSync(".tmp", { recursive: true });
  const file = `.tmp/readme-example-${randomUUID()}.ts`;
  writeFileSync(file, exampleFromReadme());
  const port = await freePort();
  let output = "";
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", file], {
    env: { ...process.env, REDIS_URL: redisUrl, PORT: String(port), SESSION_SECRET: randomUUID() },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const running: RunningExample = {
    base: `http://127.0.0.1:${port}`,
    output: () => output,
    stop() {
      child.kill("SIGKILL");
      rmSync(file, { force: true });
    },
  };
  try {
    await waitUntilServing(running, child);
  } catch (error) {
    running.stop();
    throw error;
  }
  return running;
}

async function waitUntilServing(example: RunningExample, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the example exited:\n${example.output()}`);
    const ok = await fetch(`${example.base}/account`, { redirect: "manual" }).then(() => true, () => false);
    if (ok) return;
    await delay(100);
  }
  throw new Error(`the example did not start:\n${example.output()}`);
}
