import type { LifetimesOptions } from "../config.js";
import type { DataLayerStore } from "../record/of-store.js";
import type { Logger } from "../types.js";
import type { SessionKeyType, SessionMeta } from "./meta-schema.js";
import type { UserRef } from "./user-sessions.js";

/** What the manager's API takes and gives: its options, a request as it reads one, a listed session. */
export interface RecordOptions {
  /** How the client holds the session. @default "cookie" */
  sessionKeyType?: SessionKeyType;
  /**
   * This session's lifetime in ms: sets the cookie's `maxAge`, hence the Redis TTL and
   * `expiresAt`. Without it the cookie's own lifetime stands.
   */
  expiresAfter?: number;
  /** When the user signed in; kept from the first record unless given again. @default now, on the first record */
  signInAt?: Date;
  /**
   * The lifetime profile of this sign-in (a name of `sessions.lifetimes.profiles`, e.g.
   * `"rememberMe"`): its absolute lifetime counts from `signInAt`, and its idle timeout sets
   * the cookie's `maxAge` as `expiresAfter` does (which wins when given). Read on the first
   * record of a session only. @default the platform's profile, else the default profile
   */
  lifetime?: string;
  /**
   * How the user authenticated at this sign-in (`authMethod` of the metadata): `"password"`,
   * `"second-factor"`, or a name of the app's (at most 64 code points). Read on the first
   * record of a session only; `markFresh` records later ones. @default "sign-in"
   */
  authMethod?: string;
}

export interface SessionsManagerOptions {
  /** The `RelsRedisStore` whose sessions this manages. */
  store: DataLayerStore;
  applicationName: string;
  /** `lastSeenAt` is refreshed at most this often, in ms. @default 60000 */
  lastSeenInterval?: number;
  /**
   * Signing in beyond this many sessions of one user revokes the ones due to expire soonest
   * (for rolling sessions of one lifetime: the least recently active, to within a tenth of
   * the lifetime). Enforced by the store's write that files the new session, atomically with
   * concurrent sign-ins; it sets the store's `maxSessionsPerUser`.
   */
  maxSessionsPerUser?: number;
  /**
   * Where a failing sign-in or revocation listener is reported (see `onSignIn`, `onRevoked`);
   * without one, a process warning.
   */
  logger?: Logger;
  /**
   * Lifetime profiles (`sessions.lifetimes` of `RelsSession.configure()`): an absolute
   * lifetime from sign-in beside the idle timeout. Without them, sessions have no deadline.
   */
  lifetimes?: LifetimesOptions;
}

/**
 * A session of `activeSessions`, with `current` set on the one of the request given. Its
 * `expiresAt` is when it ends unless it is used again: the earlier of its idle expiry and
 * its absolute deadline; `absoluteExpiresAt` is that deadline (null: none), which no
 * activity moves: what a devices page shows as "expires on".
 */
export interface ActiveSession extends SessionMeta {
  readonly current: boolean;
  readonly absoluteExpiresAt: Date | null;
}

/**
 * What the manager reads of a request: an Express request under express-session
 * (`req.session`, `req.sessionID`) or a Fastify request under `@fastify/session`
 * (`request.session`, whose `sessionId` is the sid), with `ip` and `headers` for the metadata.
 */
export interface SessionRequest {
  /** `req.session` (express-session) or `request.session` (@fastify/session, carries `sessionId`). */
  readonly session?: object | undefined;
  /** express-session's sid. Fastify requests have none: their sid is `session.sessionId`. */
  readonly sessionID?: string | undefined;
  /** The client's address as the framework resolved it (Express `trust proxy`, Fastify `trustProxy`). */
  readonly ip?: string | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** What `trackSessions` hands `getUser`: Express's request (with express-session's `session`), as a {@link SessionRequest}. */
export type TrackedRequest = Express.Request & SessionRequest;

/** Options of `trackSessions`: what to record, and whose the request is. */
export type TrackSessionsOptions<Req> = RecordOptions & {
  getUser: (req: Req) => UserRef | null | undefined | Promise<UserRef | null | undefined>;
};

/**
 * The sid of the request's session, by duck typing: Express's `req.sessionID`, else
 * @fastify/session's `request.session.sessionId`. Undefined when the request has no session.
 */
export function sessionIdOfRequest(req: Pick<SessionRequest, "session" | "sessionID">): string | undefined {
  if (typeof req.sessionID === "string" && req.sessionID !== "") return req.sessionID;
  const fromSession = (req.session as { sessionId?: unknown } | null | undefined)?.sessionId;
  return typeof fromSession === "string" && fromSession !== "" ? fromSession : undefined;
}
