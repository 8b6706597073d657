/**
 * The repository documents itself: LICENSE, ARCHITECTURE.md, the README sections a new user
 * needs, and the package metadata that points at the repository.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (file: string) => readFileSync(file, "utf8");

/** The text of the README section under `heading` (any level), up to the next heading of that level or above. */
function section(markdown: string, heading: string): string {
  const match = new RegExp(`^(#{2,4}) ${heading.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`, "m").exec(markdown);
  if (!match) throw new Error(`README.md has no section "${heading}"`);
  const level = match[1]!.length;
  const rest = markdown.slice(match.index + match[0].length);
  const next = new RegExp(`^#{2,${level}} `, "m").exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

describe("repository documents", () => {
  it("has an MIT LICENSE held by the rels-session contributors", () => {
    expect(existsSync("LICENSE")).toBe(true);
    const license = read("LICENSE");
    expect(license).toMatch(/^MIT License/);
    expect(license).toContain("Copyright (c) 2026 rels-session contributors");
    const pkg = JSON.parse(read("package.json")) as { license: string; files: string[] };
    expect(pkg.license).toBe("MIT");
    expect(pkg.files).toContain("LICENSE");
  });

  it("has ARCHITECTURE.md", () => {
    expect(existsSync("ARCHITECTURE.md"), "ARCHITECTURE.md (invariants, key layout, round-trip budgets)").toBe(true);
    expect(read("ARCHITECTURE.md").trim().length).toBeGreaterThan(0);
  });

  it("points package.json at the repository", () => {
    const pkg = JSON.parse(read("package.json")) as { repository?: { url?: string }; homepage?: string; bugs?: { url?: string } };
    expect(pkg.repository?.url).toContain("github.com/rels-session/rels-session");
    expect(pkg.homepage).toMatch(/^https:\/\/github\.com\/rels-session\/rels-session/);
    expect(pkg.bugs?.url).toBe("https://github.com/rels-session/rels-session/issues");
  });

  it("README explains migrating from connect-redis", () => {
    const text = section(read("README.md"), "Migrating from connect-redis");
    expect(text).toContain('prefix: "sess:"');
    expect(text).toContain("legacyFallback");
    expect(text).toMatch(/ioredis/);
    expect(text).toContain("new Redis(url)");
    expect(text).toMatch(/`ids\(\)`[^.]*private ids/);
    expect(text).toMatch(/mirrorWrites/);
    expect(text).toMatch(/`mirrorWrites` off/);
  });

  it("README explains installing before the package is published", () => {
    const text = section(read("README.md"), "Installing before the package is published");
    expect(text).toContain("npm pack");
    expect(text).toMatch(/npm install \S+\.tgz/);
    expect(text).toContain("git");
  });

  it("README's example and the demo mount requireSession", () => {
    expect(section(read("README.md"), "Use")).toContain("app.use(RelsSession.requireSession());");
    expect(read("demo/app.ts")).toContain("RelsSession.requireSession()");
  });
});
