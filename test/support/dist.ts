/**
 * The built package (dist/), for tests about what users install: both builds in one process,
 * the published types. `npm install` / `npm ci` build it (the `prepare` script); a test that
 * finds it missing fails saying so rather than testing nothing.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type * as Api from "../../src/index.js";

/** What both builds export, typed from the source they are built from. */
export type PublicApi = typeof Api;

/** Absolute path of `file` under dist/, which must exist. */
export function distFile(file: string): string {
  const path = fileURLToPath(new URL(`../../dist/${file}`, import.meta.url));
  if (!existsSync(path))
    throw new Error(
      `dist/ is not built (${path} is missing): run \`npm install\` or \`npm run build\` first`,
    );
  return path;
}

/** The CommonJS build through require() and the ESM build through import(), in this process. */
export async function bothBuilds(): Promise<{ cjs: PublicApi; esm: PublicApi }> {
  const cjs = createRequire(import.meta.url)(distFile("index.cjs")) as PublicApi;
  const esm = (await import(distFile("index.js"))) as PublicApi;
  return { cjs, esm };
}
