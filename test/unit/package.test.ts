/**
 * What `npm pack` would publish: the built code, its types and the documents, without source
 * maps, and the CLI sharing the library's code rather than carrying its own copy. Against
 * dist/ as built (`--ignore-scripts`: the pack must not rebuild under the other tests' feet).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { distFile } from "../support/dist.js";

interface Packed {
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; size: number }>;
}

describe("the published package", () => {
  it("holds dist/ without source maps, and stays small", () => {
    distFile("index.js");
    const [packed] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { encoding: "utf8" }),
    ) as Packed[];
    const paths = packed!.files.map((f) => f.path);
    expect(paths.filter((p) => p.endsWith(".map"))).toEqual([]);
    expect(
      paths.filter(
        (p) =>
          !p.startsWith("dist/") && !["README.md", "CHANGELOG.md", "LICENSE", "package.json"].includes(p),
      ),
    ).toEqual([]);
    for (const entry of [
      "dist/index.js",
      "dist/index.cjs",
      "dist/index.d.ts",
      "dist/index.d.cts",
      "dist/opentelemetry.js",
      "dist/opentelemetry.cjs",
      "dist/cli.js",
    ]) {
      expect(paths).toContain(entry);
    }
    // Before issue 20: 1.9 MB unpacked, 525 kB packed, two thirds of it source maps. After
    // issue 21 (lifetimes, freshness, revocation events): 751 kB unpacked, 215 kB packed.
    expect(packed!.unpackedSize).toBeLessThan(800_000);
    // The CLI imports the ESM build's chunks: a copy of the library would be ~160 kB.
    expect(packed!.files.find((f) => f.path === "dist/cli.js")!.size).toBeLessThan(60_000);
  });

  it("ships a CLI that runs as a program", () => {
    expect(readFileSync(distFile("cli.js"), "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { bin: Record<string, string> };
    expect(pkg.bin["rels-session"]).toBe("./dist/cli.js");
  });
});
