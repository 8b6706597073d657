/**
 * Freshness ("sudo mode"): whether a session authenticated recently enough for a sensitive
 * action, and the Express middleware that answers a stale one before the route runs.
 *
 * A session's metadata says when and how it last authenticated (`authenticatedAt`,
 * `authMethod`): set at sign-in, set again by `markFresh`. Nothing else moves it: activity
 * does not, and a regenerated or revoked session has no metadata, so it is never fresh until
 * it signs in again.
 *
 * @module
 */
import { z } from "zod";
import { DURATION_FLOORS_MS, describeIssues } from "../config.js";
import { ConfigError } from "../errors.js";
import type { NextHandler } from "../types.js";
import { META_FIELD_CAPS } from "./meta-fields.js";
import { cleanText } from "./text.js";

/** What {@link Freshness} says of a request's session. */
export interface Freshness {
  /** Whether it authenticated within `maxAgeMs`. False for a request without signed-in metadata. */
  readonly fresh: boolean;
  /** When it last authenticated; null when the session is not signed in. */
  readonly authenticatedAt: Date | null;
  /** How (`"sign-in"`, `"password"`, `"second-factor"`, the app's own); null when not signed in. */
  readonly authMethod: string | null;
  /** The age it was judged against, in ms. */
  readonly maxAgeMs: number;
}

/** What `requireFreshSession` writes through an Express response (typed structurally). */
export interface StaleResponse {
  status(code: number): { json(body: unknown): unknown };
}

/** The app's answer to a stale session (a redirect to a "confirm your password" page, say). */
export type StaleSessionHandler<Req, Res> = (req: Req, res: Res, next: NextHandler, stale: Freshness) => void;

const ms = (floor: number) =>
  z
    .number()
    .int()
    .min(floor, { message: `expected a duration of at least ${floor} ms` });

/** Options of `requireFreshSession`. */
export const requireFreshSessionOptionsSchema = z.strictObject({
  /**
   * How recently the session must have authenticated, in ms (at least 1000). GitHub asks again
   * after about two hours.
   */
  maxAgeMs: ms(DURATION_FLOORS_MS.freshness),
  /** Answer a stale session yourself; without it, `401` with {@link StaleSessionBody}. */
  onStale: z
    .custom<StaleSessionHandler<never, never>>((v) => typeof v === "function", {
      message: "expected a function (req, res, next, stale)",
    })
    .optional(),
});

/** Options of `requireFreshSession`, with the request and response types of the app. */
export interface RequireFreshSessionOptions<Req = unknown, Res = StaleResponse> {
  /** How recently the session must have authenticated, in ms (at least 1000). */
  readonly maxAgeMs: number;
  /** Answer a stale session yourself (redirect, render); without it, `401` JSON. */
  readonly onStale?: StaleSessionHandler<Req, Res>;
}

/** The body of the default `401` answer. */
export interface StaleSessionBody {
  readonly error: "reauthentication_required";
  readonly message: string;
  /** The age required, in ms. */
  readonly maxAgeMs: number;
  /** When the session last authenticated (ISO 8601), or null when it is not signed in. */
  readonly authenticatedAt: string | null;
}

const STALE_MESSAGE = "This action needs a recent sign-in: please authenticate again.";

/** Judge a session that last authenticated at `authenticatedAt` (null: not signed in). */
export function freshnessOf(
  authenticatedAt: Date | null,
  authMethod: string | null,
  maxAgeMs: number,
  now: number,
): Freshness {
  const fresh = authenticatedAt !== null && now - authenticatedAt.getTime() <= maxAgeMs;
  return { fresh, authenticatedAt, authMethod, maxAgeMs };
}

/** The default `401` body for a stale session. It names nothing of the session but its last authentication. */
export function staleSessionBody(stale: Freshness): StaleSessionBody {
  return {
    error: "reauthentication_required",
    message: STALE_MESSAGE,
    maxAgeMs: stale.maxAgeMs,
    authenticatedAt: stale.authenticatedAt ? stale.authenticatedAt.toISOString() : null,
  };
}

/**
 * The middleware: `check(req, maxAgeMs)` judges the request's session; a fresh one goes on,
 * a stale one gets `onStale`, else `401` JSON. Options are validated once, at mount.
 */
export function freshSessionMiddleware<Req, Res>(
  check: (req: Req, maxAgeMs: number) => Freshness,
  options: RequireFreshSessionOptions<Req, Res>,
): (req: Req, res: Res, next: NextHandler) => void {
  const parsed = requireFreshSessionOptionsSchema.safeParse(options);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, options, "requireFreshSession"));
  const { maxAgeMs, onStale } = options;
  return (req, res, next) => {
    let freshness: Freshness;
    try {
      freshness = check(req, maxAgeMs);
    } catch (error) {
      next(error);
      return;
    }
    if (freshness.fresh) return next();
    if (onStale) return onStale(req, res, next, freshness);
    (res as unknown as StaleResponse).status(401).json(staleSessionBody(freshness));
  };
}

/**
 * An authentication method as the app gives it (`authMethod`, `markFresh`'s `method`): cleaned
 * and capped (64 code points); "sign-in" when none is given. Not a non-empty string: TypeError.
 */
export function authMethodOf(method: string | undefined, caller: string): string {
  if (method === undefined) return "sign-in";
  const cleaned = typeof method === "string" ? cleanText(method, META_FIELD_CAPS.authMethod) : null;
  if (cleaned === null)
    throw new TypeError(
      `${caller}: an authentication method is a non-empty string (given: ${typeof method})`,
    );
  return cleaned;
}
