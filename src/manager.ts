import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { SessionData } from "express-session";
import { RelsSessionError } from "./errors.js";
import { privateHex, sessionHandle } from "./ids.js";
import { META_FIELD } from "./keys.js";
import { tracedRevocation } from "./observability/channels.js";
import { decodeSessionMeta, requestMetadata, type RequestMetadata, type SessionKeyType, type SessionMeta } from "./meta.js";
import type { RelsRedisStore } from "./store.js";
import { UserSessions, userIdOf, type UserRef } from "./user-sessions.js";

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
}

export interface SessionsManagerOptions {
  store: RelsRedisStore;
  applicationName: string;
  /** `lastSeenAt` is refreshed at most this often, in ms. @default 60000 */
  lastSeenInterval?: number;
  /** Signing in beyond this many sessions revokes the least recently seen. */
  maxSessionsPerUser?: number;
}

/** A session of `activeSessions`, with `current` set on the one of the request given. */
export interface ActiveSession extends SessionMeta {
  readonly current: boolean;
}

/** What the manager needs of a request: express-session's fields and what metadata reads. */
type SessionRequest = Pick<Request, "session" | "sessionID" | "ip" | "headers">;

const REQUEST_FIELDS = ["ip", "userAgent", "appVersion", "installationId", "device", "courseId", "clientPlatform"] as const;

/**
 * Per-user session management: record, list, revoke.
 *
 * Metadata lives in the session itself (field `_rels`), so recording rides on the write
 * express-session makes anyway; the store mirrors it into the user's index and the stats
 * in the same step. A request where nothing changed costs no extra round trip.
 */
export class RelsSessionsManager {
  readonly #store: RelsRedisStore;
  readonly #index: UserSessions;
  readonly #applicationName: string;
  readonly #lastSeenInterval: number;
  readonly #maxSessionsPerUser: number | undefined;

  constructor(options: SessionsManagerOptions) {
    this.#store = options.store;
    this.#index = new UserSessions(options.store);
    this.#applicationName = options.applicationName;
    this.#lastSeenInterval = options.lastSeenInterval ?? 60_000;
    this.#maxSessionsPerUser = options.maxSessionsPerUser;
  }

  /** The per-user index this manager reads. */
  get userSessions(): UserSessions {
    return this.#index;
  }

  /**
   * Link the request's session to `user` and keep its metadata fresh. Call it at sign-in
   * (after `req.session.regenerate()`) and on authenticated requests; it changes the session
   * only when something changed or `lastSeenAt` is due, so express-session writes only then.
   */
  async recordAuthenticatedRequest(user: UserRef, req: SessionRequest, options: RecordOptions = {}): Promise<SessionMeta> {
    const session = req.session as unknown as (SessionData & Record<string, unknown>) | undefined;
    if (!session || !req.sessionID) {
      throw new RelsSessionError("recordAuthenticatedRequest needs req.session: mount express-session with RelsRedisStore first");
    }
    const userId = userIdOf(user);
    const now = new Date();
    if (options.expiresAfter !== undefined && session.cookie.originalMaxAge !== options.expiresAfter) {
      session.cookie.maxAge = options.expiresAfter;
      session.cookie.originalMaxAge = options.expiresAfter;
    }
    const expiresAt = session.cookie.expires ? new Date(session.cookie.expires) : new Date(now.getTime() + 86_400_000);
    const handle = sessionHandle(privateHex(req.sessionID));
    const known = decodeSessionMeta(session[META_FIELD]);
    const fromRequest = requestMetadata(req, known ?? undefined);

    if (!known || known.userId !== userId || known.sessionId !== handle) {
      const meta: SessionMeta = {
        sessionId: handle,
        userId,
        applicationName: this.#applicationName,
        sessionKeyType: options.sessionKeyType ?? "cookie",
        ...fromRequest,
        signInAt: options.signInAt ?? now,
        lastSeenAt: now,
        createdAt: now,
        expiresAt,
      };
      session[META_FIELD] = meta;
      if (this.#maxSessionsPerUser !== undefined) await this.#enforceCap(userId, handle, this.#maxSessionsPerUser);
      return meta;
    }

    const changed =
      REQUEST_FIELDS.some((field) => known[field] !== fromRequest[field]) ||
      known.applicationName !== this.#applicationName ||
      (options.sessionKeyType !== undefined && options.sessionKeyType !== known.sessionKeyType) ||
      (options.signInAt !== undefined && options.signInAt.getTime() !== known.signInAt.getTime());
    const due = now.getTime() - known.lastSeenAt.getTime() >= this.#lastSeenInterval;
    if (!changed && !due) return known;
    const meta: SessionMeta = {
      ...known,
      ...fromRequest,
      applicationName: this.#applicationName,
      sessionKeyType: options.sessionKeyType ?? known.sessionKeyType,
      signInAt: options.signInAt ?? known.signInAt,
      lastSeenAt: now,
      expiresAt,
    };
    session[META_FIELD] = meta;
    return meta;
  }

  /** Express middleware: records every request whose `getUser(req)` returns a user. */
  trackSessions(options: RecordOptions & { getUser: (req: Request) => UserRef | null | undefined | Promise<UserRef | null | undefined> }): RequestHandler {
    const { getUser, ...record } = options;
    return (req: Request, _res: Response, next: NextFunction) => {
      // No session while the store is disconnected (express-session skips it): nothing to record.
      if (!req.session) return next();
      Promise.resolve()
        .then(() => getUser(req))
        .then((user) => (user === null || user === undefined ? undefined : this.recordAuthenticatedRequest(user, req, record)))
        .then(() => next(), next);
    };
  }

  /**
   * The user's live sessions, most recently seen first; `current` marks the request's own.
   * Two round trips whatever their number.
   */
  async activeSessions(user: UserRef, options: { current?: SessionRequest } = {}): Promise<ActiveSession[]> {
    const userId = userIdOf(user);
    const currentHandle = options.current?.sessionID ? sessionHandle(privateHex(options.current.sessionID)) : undefined;
    // This request's own metadata may be newer than Redis's: its write comes at the end.
    const own = decodeSessionMeta((options.current?.session as Record<string, unknown> | undefined)?.[META_FIELD]);
    const listed = (await this.#index.sessions(userId)).map(({ meta }) =>
      meta.sessionId === currentHandle && own?.userId === userId ? { ...own, expiresAt: meta.expiresAt } : meta,
    );
    if (own && own.userId === userId && own.sessionId === currentHandle && !listed.some((m) => m.sessionId === currentHandle)) {
      listed.push(own);
    }
    return listed
      .map((meta) => ({ ...meta, current: meta.sessionId === currentHandle }))
      .sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime());
  }

  /**
   * The handle (`SessionMeta.sessionId`) of the request's own session: what to compare
   * with the handles `activeSessions` lists. Never render `req.sessionID` itself.
   */
  sessionIdOf(req: Pick<Request, "sessionID">): string {
    return sessionHandle(privateHex(req.sessionID));
  }

  /**
   * Revoke one session of this user by its handle (`SessionMeta.sessionId`). Revoking the
   * request's own session ends it from the next request on; the request in flight keeps
   * `req.session` until it ends, and its save is refused.
   */
  async logoutSession(user: UserRef, sessionId: string): Promise<boolean> {
    return (await this.logoutSessions(user, [sessionId])) > 0;
  }

  /** Revoke several; handles of other users' sessions revoke nothing. Returns how many ended. */
  async logoutSessions(user: UserRef, sessionIds: readonly string[]): Promise<number> {
    const wanted = new Set(sessionIds);
    return tracedRevocation("sessions", () => this.#revokeWhere(user, (handle) => wanted.has(handle)));
  }

  /** Revoke every session of this user, the current one included. Two round trips. */
  async logoutAllSessions(user: UserRef): Promise<number> {
    return tracedRevocation("all", () => this.#revokeWhere(user, () => true));
  }

  /** Revoke every session of this user but the request's own. */
  async logoutOtherSessions(user: UserRef, req: SessionRequest): Promise<number> {
    const keep = sessionHandle(privateHex(req.sessionID));
    return tracedRevocation("others", () => this.#revokeWhere(user, (handle) => handle !== keep));
  }

  /** Two round trips: the index, then one owner-checked destroy per session, pipelined. */
  async #revokeWhere(user: UserRef, revoke: (handle: string) => boolean): Promise<number> {
    const owner = userIdOf(user);
    const entries = await this.#index.list(owner);
    const hexes = entries.map((e) => e.hex).filter((hex) => revoke(sessionHandle(hex)));
    return this.#store.destroyByPrivateIds(hexes, { owner });
  }

  /** Make room for a new session: revoke the least recently seen beyond the cap. */
  async #enforceCap(userId: string, newHandle: string, cap: number): Promise<void> {
    const others = (await this.#index.sessions(userId)).filter((s) => s.meta.sessionId !== newHandle);
    const excess = others.length + 1 - cap;
    if (excess <= 0) return;
    const oldest = others.sort((a, b) => a.meta.lastSeenAt.getTime() - b.meta.lastSeenAt.getTime()).slice(0, excess);
    await tracedRevocation("cap", () => this.#store.destroyByPrivateIds(oldest.map((s) => s.hex), { owner: userId }));
  }
}

export type { RequestMetadata };
