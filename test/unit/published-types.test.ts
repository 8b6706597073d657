/**
 * The published types (dist/) in strict TypeScript apps, with only what each app installs:
 * a Fastify app (docs/fastify.md's example as written, plus a CommonJS file: index.d.cts)
 * type-checks with no `express`, `qs`, `express-serve-static-core` or `express-session`
 * types anywhere it can resolve them; an Express app (the README's example) still gets
 * express-session's types where it uses them.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { distFile } from "../support/dist.js";
import { docExample, readmeExample } from "../support/example-process.js";

const repo = resolve(".");
const projects: string[] = [];

afterAll(() => {
  for (const dir of projects) rmSync(dir, { recursive: true, force: true });
});

/**
 * The errors of `tsc` (strict, skipLibCheck off) over `files` in a new project whose
 * node_modules holds links to the repository's copies of `packages` and a copy of
 * rels-session as npm installs it (package.json and dist/), so that nothing resolves
 * through the repository's own node_modules.
 */
function typeCheck(packages: readonly string[], files: Record<string, string>): string[] {
  const project = mkdtempSync(join(tmpdir(), "rels-types-"));
  projects.push(project);
  for (const name of [...packages, "@types/node", "zod"]) {
    const at = join(project, "node_modules", name);
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(join(repo, "node_modules", name), at, "dir");
  }
  const pkg = join(project, "node_modules", "rels-session");
  cpSync(join(repo, "package.json"), join(pkg, "package.json"));
  cpSync(dirname(distFile("index.d.ts")), join(pkg, "dist"), { recursive: true });
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "app", private: true, type: "module" }),
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        module: "nodenext",
        target: "es2022",
        types: ["node"],
        noEmit: true,
      },
      include: ["*.ts", "*.cts"],
    }),
  );
  for (const [name, text] of Object.entries(files)) writeFileSync(join(project, name), text);
  const tsc = spawnSync(
    process.execPath,
    [join(repo, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"],
    { cwd: project, encoding: "utf8" },
  );
  return tsc.stdout.split("\n").filter((line) => /error TS\d+/.test(line));
}

describe("the published types", () => {
  it("type-check in a strict Fastify app without Express's or express-session's types", () => {
    // What a Fastify app installs (docs/fastify.md), Node's types, and zod (a dependency of rels-session's).
    const errors = typeCheck(["fastify", "@fastify/cookie", "@fastify/session", "ioredis"], {
      "app.ts": docExample("docs/fastify.md", "## Using it with Fastify"),
      "cjs-app.cts":
        'import { ConfigError, RelsSession } from "rels-session";\n' +
        "export const configured: boolean = RelsSession.isConfigured;\n" +
        "export const isConfigError = (error: unknown): boolean => error instanceof ConfigError;\n",
      // The control: Express's types are not there to be found.
      "control.ts": 'import type { Request } from "express";\nexport type R = Request;\n',
    });
    expect(errors).toEqual([
      expect.stringMatching(/^control\.ts\(1,\d+\): error TS2307: Cannot find module 'express'/),
    ]);
  }, 120_000);

  it("type-check in a strict Express app: session({ store }), requireSession, trackSessions with req.session typed", () => {
    const errors = typeCheck(
      ["express", "express-session", "@types/express", "@types/express-session", "ioredis"],
      {
        "app.ts": readmeExample("## Use"),
        // getUser's req carries express-session's augmented session; a wrong field is an error.
        "typed.ts":
          'import "express-session";\nimport { SessionsManager } from "rels-session";\n' +
          'declare module "express-session" { interface SessionData { accountId?: number } }\n' +
          "export const ok = SessionsManager.trackSessions({ getUser: (req) => req.session.accountId });\n" +
          "export const wrong = SessionsManager.trackSessions({ getUser: (req) => req.session.nope });\n",
      },
    );
    expect(errors).toEqual([
      expect.stringMatching(/^typed\.ts\(5,\d+\): error TS2339: Property 'nope' does not exist/),
    ]);
  }, 120_000);
});
