/**
 * Running a documented example as written (README.md, docs/*.md): its ```ts block under a heading, in a child
 * process (tsx, `rels-session` resolved to src/ through tsconfig paths) on a free
 * 127.0.0.1 port, polled until it answers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** The first ```ts block after `heading` in the Markdown file `file`. */
export function docExample(file: string, heading: string): string {
  const text = readFileSync(file, "utf8");
  const at = text.indexOf(heading);
  if (at < 0) throw new Error(`${file} has no heading ${JSON.stringify(heading)}`);
  const match = /```ts\n([\s\S]*?)```/.exec(text.slice(at));
  if (!match?.[1]) throw new Error(`${file} has no \`\`\`ts block under ${JSON.stringify(heading)}`);
  return match[1];
}

/** The first ```ts block after `heading` in README.md. */
export function readmeExample(heading: string): string {
  return docExample("README.md", heading);
}

export interface RunningExample {
  readonly base: string;
  output(): string;
  /** Kills the child and removes its file. */
  stop(): void;
}

/** Starts `code` with `env` (plus PORT and HOST) and resolves once `probePath` answers at all. */
export async function runExample(
  code: string,
  env: Record<string, string>,
  probePath = "/",
): Promise<RunningExample> {
  mkdirSync(".tmp", { recursive: true });
  const file = `.tmp/readme-example-${randomUUID()}.ts`;
  writeFileSync(file, code);
  const port = await freePort();
  let output = "";
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", file], {
    env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const running: RunningExample = {
    base: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: () => {
      child.kill("SIGKILL");
      rmSync(file, { force: true });
    },
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      running.stop();
      throw new Error(`the example exited:\n${output}`);
    }
    const ok = await fetch(`${running.base}${probePath}`, { redirect: "manual" }).then(
      () => true,
      () => false,
    );
    if (ok) return running;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  running.stop();
  throw new Error(`the example did not start within 20 s:\n${output}`);
}
