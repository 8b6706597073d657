import { DEFAULTS as CONFIG_DEFAULTS } from "../config.js";
import { RelsSessionError } from "../errors.js";
import type { SessionData } from "../record/session-data.js";
import { isoMs } from "../record/codec/iso-time.js";

const DEFAULTS = CONFIG_DEFAULTS.store;

/** Longer than any session should live, and well inside what Redis and a JS Date hold. */
const MAX_TTL_MS = 100 * 365 * 86_400_000;

/** The store's options that decide a session's lifetime and when a touch is sent. */
export interface LifetimeOptions {
  ttl?: number | ((session: SessionData) => number) | undefined;
  disableTTL?: boolean | undefined;
  disableTouch?: boolean | undefined;
  touchAfter?: number | "auto" | undefined;
}

/** The store's TTL and touch policy: how long a session lives, and which touches send nothing. */
export class LifetimePolicy {
  readonly ttl: number | ((session: SessionData) => number);
  readonly disableTTL: boolean;
  readonly disableTouch: boolean;
  readonly #touchAfter: number | "auto";

  constructor(options: LifetimeOptions) {
    this.ttl = options.ttl ?? DEFAULTS.ttlSeconds;
    this.disableTTL = options.disableTTL ?? false;
    this.disableTouch = options.disableTouch ?? false;
    this.#touchAfter = options.touchAfter ?? "auto";
  }

  /**
   * The session's lifetime in whole ms (Redis takes no fractions), from its cookie, else
   * `ttl`. One clear error for a lifetime that is not a number or over 100 years.
   */
  ttlMs(session: SessionData): number {
    const expires = session?.cookie?.expires;
    const ms =
      typeof this.ttl === "function"
        ? this.ttl(session) * 1000
        : expires
          ? (typeof expires === "string" ? isoMs(expires) : new Date(expires).getTime()) - Date.now()
          : this.ttl * 1000;
    if (!Number.isFinite(ms) || ms > MAX_TTL_MS) {
      throw new RelsSessionError(
        "The session's lifetime is not a number of at most 100 years: check `ttl` and cookie.expires / maxAge",
      );
    }
    return Math.ceil(ms);
  }

  /** The expiry Redis is given for a lifetime of `ttlMs`: 0 (none) with `disableTTL`. */
  storedTtlMs(ttlMs: number): number {
    return this.disableTTL ? 0 : ttlMs;
  }

  /**
   * A touch that sends nothing: the expiry moved by less than `touchAfter`, forward (time
   * passed) or back (another process's clock). A lifetime that got shorter by more is sent at once.
   */
  withinThrottle(ttlMs: number, knownExpiresAt: number | undefined): boolean {
    const moved = knownExpiresAt === undefined ? Number.NaN : Date.now() + ttlMs - knownExpiresAt;
    return ttlMs > 0 && Math.abs(moved) < this.#touchAfterMs(ttlMs);
  }

  #touchAfterMs(ttlMs: number): number {
    const wanted =
      this.#touchAfter === "auto"
        ? Math.min(ttlMs * DEFAULTS.autoTouchFraction, DEFAULTS.autoTouchMaxMs)
        : this.#touchAfter * 1000;
    return Math.min(wanted, ttlMs * DEFAULTS.touchAfterMaxFraction);
  }
}

/**
 * When the session's cookie was issued, as express-session and @fastify/session keep it
 * (`expires` − `originalMaxAge`); 0 when it has no expiry or the numbers are not usable.
 */
export function cookieIssuedAt(session: SessionData): number {
  const cookie = session?.cookie as { expires?: unknown; originalMaxAge?: unknown } | undefined;
  const maxAge = cookie?.originalMaxAge;
  const expires = cookie?.expires;
  if (
    typeof maxAge !== "number" ||
    !Number.isFinite(maxAge) ||
    (typeof expires !== "string" && !(expires instanceof Date))
  )
    return 0;
  const at = (typeof expires === "string" ? isoMs(expires) : expires.getTime()) - maxAge;
  return Number.isFinite(at) && at > 0 ? at : 0;
}
