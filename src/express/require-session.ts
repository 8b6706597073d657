import type { RequestAccepting, UnavailableResponse } from "./session-types.js";
import type { NextHandler } from "../types.js";
import { z } from "zod";
import { ConfigError } from "../errors.js";

/** Options of {@link requireSession}. */
export const requireSessionOptionsSchema = z.strictObject({
  /**
   * Seconds sent in `Retry-After`. The store's circuit breaker probes Redis every second
   * and reconnects back off up to 2 s, so a few seconds is when a retry has a chance.
   * @default 5
   */
  retryAfterSeconds: z.number().int().min(1).max(3600).optional(),
  /**
   * Also answer 503 (rather than pass the error on, which Express turns into a 500) when
   * the session middleware itself failed because Redis is unavailable: the moment between
   * Redis going away and the store telling express-session it is disconnected.
   * @default true
   */
  handleStoreErrors: z.boolean().optional(),
});
export type RequireSessionOptions = z.input<typeof requireSessionOptionsSchema>;

/** Options of {@link redisErrorHandler}: `retryAfterSeconds`, as {@link requireSession}'s. */
export const redisErrorHandlerOptionsSchema = requireSessionOptionsSchema.pick({ retryAfterSeconds: true });
export type RedisErrorHandlerOptions = z.input<typeof redisErrorHandlerOptionsSchema>;

const REQUIRE_SESSION_DEFAULTS = {
  retryAfterSeconds: 5,
  handleStoreErrors: true,
} as const satisfies Required<RequireSessionOptions>;

/** What the 503 says. It names no host, no session and nothing from the request. */
const MESSAGE = "Sessions are temporarily unavailable. Please try again in a moment.";

/**
 * The error names that mean "Redis cannot be reached": by name, so both builds' classes
 * match. Every subclass of `RedisUnavailableError` is listed.
 */
const UNAVAILABLE_ERRORS = new Set([
  "RedisUnavailableError",
  "StoreReconfiguredError",
  "RedisConnectionError",
  "RedisVersionError",
]);

/** How deep `isUnavailable` follows `cause`: an app may wrap the library's error once or twice. */
const MAX_CAUSE_DEPTH = 4;

/** `requireSession()`'s check: an Express middleware (typed structurally, so Express's types are not needed). */
export type SessionCheck = (req: RequestAccepting, res: UnavailableResponse, next: NextHandler) => void;
/** `requireSession()`'s Express error handler, for the session middleware's own failures. */
export type StoreErrorCheck = (
  err: unknown,
  req: RequestAccepting,
  res: UnavailableResponse,
  next: NextHandler,
) => void;

/**
 * Express middleware to mount right after `session(...)`: while the store is disconnected
 * express-session serves requests with `req.session` undefined, and every route that reads
 * it would throw (a 500). This answers `503 Service Unavailable` with `Retry-After`
 * instead, as JSON or HTML by the request's `Accept`.
 *
 * Returns two handlers (Express accepts the array in `app.use`): the check, and an error
 * handler for store failures raised by the session middleware before it.
 */
export function requireSession(options: RequireSessionOptions = {}): [SessionCheck, StoreErrorCheck] {
  const parsed = parseOptions(requireSessionOptionsSchema, options, "requireSession");
  const retryAfter = parsed.retryAfterSeconds ?? REQUIRE_SESSION_DEFAULTS.retryAfterSeconds;
  const handleStoreErrors = parsed.handleStoreErrors ?? REQUIRE_SESSION_DEFAULTS.handleStoreErrors;

  const check: SessionCheck = (req, res, next) => {
    if (req.session !== undefined) {
      next();
      return;
    }
    unavailable(req, res, retryAfter);
  };
  const passOn: StoreErrorCheck = (err, _req, _res, next) => next(err);
  return [check, handleStoreErrors ? unavailableErrors(retryAfter) : passOn];
}

/**
 * Express error handler (mount it after your routes) answering the library's Redis errors
 * (`RedisUnavailableError` and its subclasses, also as the `cause` of an error of the app's)
 * with the 503 + `Retry-After` of {@link requireSession}; every other error is passed on.
 * For errors thrown inside route handlers, e.g. by `recordAuthenticatedRequest` or
 * `activeSessions` while Redis is down: Express 5 forwards a rejected handler's error here;
 * with Express 4, call `next(error)`.
 */
export function redisErrorHandler(options: RedisErrorHandlerOptions = {}): StoreErrorCheck {
  const parsed = parseOptions(redisErrorHandlerOptionsSchema, options, "redisErrorHandler");
  return unavailableErrors(parsed.retryAfterSeconds ?? REQUIRE_SESSION_DEFAULTS.retryAfterSeconds);
}

function parseOptions<T extends z.ZodType>(schema: T, options: unknown, name: string): z.output<T> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({ path: [name, ...issue.path].join("."), message: issue.message })),
    );
  }
  return parsed.data;
}

/** The 503 for "Redis cannot be reached"; anything else, or a response already started, goes on. */
function unavailableErrors(retryAfter: number): StoreErrorCheck {
  return (err, req, res, next) => {
    if (res.headersSent || !isUnavailable(err)) {
      next(err);
      return;
    }
    unavailable(req, res, retryAfter);
  };
}

function isUnavailable(err: unknown): boolean {
  let current = err;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    if (UNAVAILABLE_ERRORS.has(current.name)) return true;
    current = current.cause;
  }
  return false;
}

function unavailable(req: RequestAccepting, res: UnavailableResponse, retryAfter: number): void {
  res.status(503).set("Retry-After", String(retryAfter)).set("Cache-Control", "no-store");
  // `accepts` prefers the first type on a tie (`*/*` or no Accept): HTML for browsers and
  // curl, JSON for clients that ask for it.
  if (req.accepts(["html", "json"]) === "json") {
    res.json({ error: "session_unavailable", message: MESSAGE, retryAfter });
    return;
  }
  res
    .type("html")
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>` +
        `<body><h1>Temporarily unavailable</h1><p>${MESSAGE}</p></body></html>`,
    );
}
