/**
 * `--baseline=<git-rev>`: that revision checked out in a temporary git worktree
 * (`git worktree add --detach`), with this tree's node_modules symlinked into it, so that
 * the children can load its src/index.ts through tsx as they load this tree's. Removed by
 * `dispose()` (run.ts calls it in `finally`), on SIGINT / SIGTERM / SIGHUP, and on exit.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError, type BaselineEntrant } from "./options.js";

/** This repository's root (bench/..): where git runs and whose node_modules the baseline borrows. */
const REPO_ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

function git(args: readonly string[], cwd = REPO_ROOT): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** A revision → its commit and short name, or a UsageError naming it. */
export function resolveRevision(rev: string, cwd = REPO_ROOT): { commit: string; short: string } {
  let commit: string;
  try {
    // --verify: exactly one object or fail; ^{commit}: a tag is peeled, a tree or blob refused.
    commit = git(["rev-parse", "--verify", "--quiet", `${rev}^{commit}`], cwd);
  } catch {
    throw new UsageError(
      `--baseline: unknown git revision "${rev}" (not a commit in ${cwd}; try a commit hash, tag or branch that \`git log\` shows)`,
    );
  }
  return { commit, short: git(["rev-parse", "--short", commit], cwd) };
}

export interface BaselineBuild extends BaselineEntrant {
  readonly commit: string;
  /** Remove the worktree; idempotent, synchronous (it also runs from signal and exit handlers). */
  dispose(): void;
}

/** Check out `rev` in a temporary worktree; throws UsageError for an unknown revision or one without src/index.ts. */
export function addBaselineWorktree(rev: string): BaselineBuild {
  const { commit, short } = resolveRevision(rev);
  const root = mkdtempSync(join(tmpdir(), `rels-bench-baseline-${short}-`));
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    for (const signal of Object.keys(SIGNALS)) process.off(signal, onSignal);
    process.off("exit", dispose);
    // The symlink first, so that nothing below can follow it into this tree's node_modules.
    try {
      unlinkSync(join(root, "node_modules"));
    } catch {
      // Not made yet.
    }
    try {
      git(["worktree", "remove", "--force", root]);
    } catch {
      // Never registered (add failed), or already gone: remove what is left, forget the entry.
      rmSync(root, { recursive: true, force: true });
      try {
        git(["worktree", "prune"]);
      } catch {
        // Nothing more to do; `git worktree prune` later cleans a stale entry.
      }
    }
  };
  // A signal would otherwise kill us before `finally`: clean up, then exit so that the other
  // exit hooks (children, redis-server) still run.
  const onSignal = (signal: NodeJS.Signals) => {
    dispose();
    process.exit(128 + SIGNALS[signal as keyof typeof SIGNALS]);
  };
  for (const signal of Object.keys(SIGNALS)) process.on(signal, onSignal);
  process.on("exit", dispose);
  try {
    git(["worktree", "add", "--detach", root, commit]);
    if (!existsSync(join(root, "src", "index.ts")))
      throw new UsageError(`--baseline: ${rev} (${short}) has no src/index.ts to load`);
    symlinkSync(join(REPO_ROOT, "node_modules"), join(root, "node_modules"), "dir");
  } catch (error) {
    dispose();
    throw error;
  }
  return { name: `rels@${short}`, root, commit, dispose };
}
