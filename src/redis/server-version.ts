/**
 * Which servers this library works with: every script starts with a `#!lua` shebang (so
 * Redis checks `maxmemory` before running it), which Redis understands from 7.0. Valkey
 * began as a fork of Redis 7.2, so every Valkey release does. The pool asks `INFO server`
 * once, on its first connection (`ServerVersionCheck`, below), and refuses an older server with a
 * `RedisVersionError` that names the version found and the one needed.
 */
import { RedisVersionError } from "../errors.js";
import { withDeadline } from "./deadlines.js";
import type { RedisClient } from "./source.js";

/** The oldest Redis whose scripting this library's scripts need. */
export const REQUIRED_REDIS_VERSION = "7.0";

/** What a server said about itself, and whether it will do. */
export interface VersionVerdict {
  /** `"Redis 7.0.15"`, `"Valkey 8.0.1"`, or `"an unknown version"` when INFO names none. */
  readonly found: string;
  readonly supported: boolean;
}

/**
 * The verdict on an `INFO server` reply. Valkey reports `valkey_version` beside a
 * `redis_version` kept for compatibility (7.2.4); it is named by its own version, and
 * accepted. A reply that names no version (a proxy that hides it) is accepted: the check
 * exists to explain a failure, never to cause one.
 */
export function versionVerdict(info: string): VersionVerdict {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const valkey = fields.get("valkey_version");
  if (valkey) return { found: `Valkey ${valkey}`, supported: true };
  const redis = fields.get("redis_version");
  if (!redis) return { found: "an unknown version", supported: true };
  return { found: `Redis ${redis}`, supported: atLeast(redis, REQUIRED_REDIS_VERSION) };
}

/** `version` (major.minor[.patch…], anything after a `-` ignored) is at least `minimum`. */
function atLeast(version: string, minimum: string): boolean {
  const have = numbersOf(version);
  const need = numbersOf(minimum);
  // A version that does not parse is not refused (see `versionVerdict`).
  if (have.length === 0) return true;
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0;
    const b = need[i]!;
    if (a !== b) return a > b;
  }
  return true;
}

function numbersOf(version: string): number[] {
  const match = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(version.trim());
  return match
    ? match
        .slice(1)
        .filter((n) => n !== undefined)
        .map(Number)
    : [];
}

/**
 * The server's version, asked once per pool on its first connection. A server too old is
 * refused like a database it refuses: `refuse` closes every connection, and every call fails
 * with the `RedisVersionError`. An INFO refused by an ACL (NOPERM) skips the check. Calls
 * that find a connection ready before the answer (a burst at start-up) are not held back.
 */
export class ServerVersionCheck {
  readonly #address: string;
  readonly #timeoutMs: number;
  readonly #refuse: (error: RedisVersionError) => void;
  #checked: Promise<void> | undefined;

  constructor(address: string, timeoutMs: number, refuse: (error: RedisVersionError) => void) {
    this.#address = address;
    this.#timeoutMs = timeoutMs;
    this.#refuse = refuse;
  }

  /** `client`, once the server's version is known to do. */
  verified(client: RedisClient): Promise<RedisClient> {
    this.#checked ??= withDeadline(client.info("server"), this.#timeoutMs, "INFO server").then(
      (info) => {
        const verdict = versionVerdict(info);
        if (verdict.supported) return;
        const error = new RedisVersionError(this.#address, verdict.found, REQUIRED_REDIS_VERSION);
        this.#refuse(error);
        throw error;
      },
      (error: unknown) => {
        if (error instanceof Error && /NOPERM/.test(error.message)) return;
        // Not an answer (the connection dropped, the deadline passed): asked again next time.
        this.#checked = undefined;
        throw error;
      },
    );
    return this.#checked.then(() => client);
  }
}
