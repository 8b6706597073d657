/**
 * The repository documents itself: LICENSE, ARCHITECTURE.md, the README sections a new user
 * needs, and the package metadata that points at the repository.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

const read = (file: string) => readFileSync(file, "utf8");

/** README.md and every Markdown file under docs/. */
function markdownFiles(): string[] {
  return [
    "README.md",
    ...readdirSync("docs")
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
}

/** The text of the section of `file` under `heading` (any level), up to the next heading of that level or above. */
function section(file: string, heading: string): string {
  const markdown = read(file);
  const match = new RegExp(`^(#{2,4}) ${heading.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`, "m").exec(
    markdown,
  );
  if (!match) throw new Error(`${file} has no section "${heading}"`);
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
    expect(
      existsSync("ARCHITECTURE.md"),
      "ARCHITECTURE.md (invariants, key layout, round-trip budgets)",
    ).toBe(true);
    expect(read("ARCHITECTURE.md").trim().length).toBeGreaterThan(0);
  });

  it("points package.json at the repository", () => {
    const pkg = JSON.parse(read("package.json")) as {
      repository?: { url?: string };
      homepage?: string;
      bugs?: { url?: string };
    };
    expect(pkg.repository?.url).toContain("github.com/rels-session/rels-session");
    expect(pkg.homepage).toMatch(/^https:\/\/github\.com\/rels-session\/rels-session/);
    expect(pkg.bugs?.url).toBe("https://github.com/rels-session/rels-session/issues");
  });

  it("docs/migration.md explains migrating from connect-redis", () => {
    const text = section("docs/migration.md", "Migrating from connect-redis");
    expect(text).toContain('prefix: "sess:"');
    expect(text).toContain("legacyFallback");
    expect(text).toMatch(/ioredis/);
    expect(text).toContain("new Redis(url)");
    expect(text).toMatch(/`ids\(\)`[^.]*private ids/);
    expect(text).toMatch(/mirrorWrites/);
    expect(text).toMatch(/`mirrorWrites` off/);
  });

  it("README explains installing before the package is published", () => {
    const text = section("README.md", "Installing before the package is published");
    expect(text).toContain("npm pack");
    expect(text).toMatch(/npm install \S+\.tgz/);
    // From the Git repository: npm runs the prepare script, which builds dist/.
    expect(text).toContain("npm install github:rels-session/rels-session");
    expect(text).toContain("prepare");
  });

  it("README's example and the demo mount requireSession", () => {
    expect(section("README.md", "Use")).toContain("app.use(RelsSession.requireSession());");
    expect(read("demo/app.ts")).toContain("RelsSession.requireSession()");
  });
});

describe("README and docs/", () => {
  it("keep the README to one sitting: at most 250 lines, the reference in docs/", () => {
    const readme = read("README.md");
    expect(readme.split("\n").length).toBeLessThanOrEqual(250);
    for (const heading of ["Install", "Use", "The account page: list and revoke", "Documentation"]) {
      expect(section("README.md", heading).trim().length, heading).toBeGreaterThan(0);
    }
    const docs = markdownFiles().filter((f) => f.startsWith("docs/"));
    expect(docs.length).toBeGreaterThanOrEqual(5);
    for (const file of docs) expect(readme, `README links ${file}`).toContain(`](${file})`);
  });

  it("link only to files that exist", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of [
      ...markdownFiles(),
      "AGENTS.md",
      "ARCHITECTURE.md",
      "RELIABILITY.md",
      "CHANGELOG.md",
    ]) {
      for (const target of [...read(file).matchAll(/\]\(([^)\s]+)\)|src="([^"]+)"/g)].map(
        (m) => m[1] ?? m[2],
      )) {
        if (!target || /^(https?:|mailto:|#)/.test(target)) continue;
        checked += 1;
        const path = join(dirname(file), target.split("#")[0]!);
        if (!existsSync(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });

  it("point at no sibling checkout (../shared)", () => {
    for (const file of [...markdownFiles(), "AGENTS.md", "ARCHITECTURE.md", "CHANGELOG.md"]) {
      expect(read(file), file).not.toContain("../shared");
    }
  });
});

describe("one version everywhere", () => {
  const pkg = JSON.parse(read("package.json")) as { version: string; scripts: Record<string, string> };

  it("package.json's version is the CHANGELOG's top entry, and package-lock's", () => {
    const top = /^## (\d+\.\d+\.\d+)\b/m.exec(read("CHANGELOG.md"));
    expect(top?.[1], "CHANGELOG.md's first `## x.y.z` entry").toBe(pkg.version);
    const lock = JSON.parse(read("package-lock.json")) as {
      version: string;
      packages: Record<string, { version?: string }>;
    };
    expect(lock.version).toBe(pkg.version);
    expect(lock.packages[""]?.version).toBe(pkg.version);
  });

  it("every tarball the README and docs/ name is this version's", () => {
    const named = markdownFiles().flatMap((file) =>
      [...read(file).matchAll(/rels-session-(\d+\.\d+\.\d+)\.tgz/g)].map((m) => `${file}: ${m[1]}`),
    );
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((entry) => !entry.endsWith(`: ${pkg.version}`))).toEqual([]);
  });
});

describe("a fresh clone", () => {
  it("builds dist/ on npm install (the prepare script), so npm test needs nothing else", () => {
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string>; files: string[] };
    expect(pkg.scripts.prepare).toBe("npm run build");
    expect(pkg.scripts.build).toMatch(/\btsup$/);
    expect(pkg.files).toContain("dist");
    // tsup is what prepare runs: it must be installed by npm install itself.
    const all = JSON.parse(read("package.json")) as { devDependencies: Record<string, string> };
    expect(all.devDependencies.tsup).toBeDefined();
  });
});
