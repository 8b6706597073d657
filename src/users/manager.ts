import { DEFAULTS } from "../config.js";
import type { SessionData } from "../record/session-data.js";
import type { Logger, NextHandler } from "../types.js";
import { RelsSessionError } from "../errors.js";
import { privateHex, sessionHandle } from "../ids.js";
import { META_FIELD } from "../record/keys.js";
import { META_REVISION_FIELD, attachMeta } from "../record/meta-section.js";
import type { DataLayer } from "../record/data-layer.js";
import { tracedRevocation } from "../observability/channels.js";
import { requestMetadata, type RequestMetadata } from "./meta-request.js";
import { decodeSessionMeta } from "./meta-codec.js";
import type { SessionMeta } from "./meta-schema.js";
import { LifetimeProfiles, deadlineOf, earlier } from "./lifetime-profiles.js";
import {
  authMethodOf,
  freshSessionMiddleware,
  freshnessOf,
  type Freshness,
  type RequireFreshSessionOptions,
  type StaleResponse,
} from "./freshness.js";
import type { RevocationReason, SessionRecords } from "../record/records.js";
import type { RevocationListener } from "../record/revocation-feed.js";
import { watchConnection, type CloseOnRevokeOptions, type RevocableConnection } from "./close-on-revoke.js";
import { dataLayerOf } from "../record/of-store.js";
import { SignInEvents, type SignInListener } from "./sign-in-events.js";
import { UserSessions, userIdOf, type SessionsPage, type UserRef } from "./user-sessions.js";
import { DecodedMetaCache, copyMeta } from "./decoded-meta.js";
import { TUNABLES } from "../tunables.js";
import {
  sessionIdOfRequest,
  type ActiveSession,
  type RecordOptions,
  type SessionRequest,
  type SessionsManagerOptions,
  type TrackSessionsOptions,
  type TrackedRequest,
} from "./manager-types.js";

const REQUEST_FIELDS = [
  "ip",
  "userAgent",
  "appVersion",
  "installationId",
  "device",
  "courseId",
  "clientPlatform",
] as const;

/**
 * Per-user session management: record, list, revoke.
 *
 * Metadata is a section of the session's record (layout 4), held beside the session object
 * under a non-enumerable symbol: never in its JSON, a spread or a clone. New metadata bumps
 * the session's small `_relsRev` field, so the framework sees a change and saves; recording
 * rides on that write, which files the session under its user and stats bucket in the same
 * step. A request where nothing changed costs no extra round trip, and its metadata is
 * written back as the text read.
 */
export class RelsSessionsManager {
  readonly #records: SessionRecords;
  readonly #layer: DataLayer;
  readonly #index: UserSessions;
  readonly #applicationName: string;
  readonly #lastSeenInterval: number;
  readonly #signIns: SignInEvents;
  readonly #decoded = new DecodedMetaCache();
  readonly #lifetimes: LifetimeProfiles;
  readonly #logger: Logger | undefined;

  constructor(options: SessionsManagerOptions) {
    this.#signIns = new SignInEvents({
      listSessions: (userId) => this.activeSessions(userId),
      logger: options.logger,
    });
    this.#logger = options.logger;
    this.#layer = dataLayerOf(options.store);
    this.#records = this.#layer.records;
    this.#index = new UserSessions(options.store);
    this.#applicationName = options.applicationName;
    this.#lastSeenInterval = options.lastSeenInterval ?? DEFAULTS.sessions.lastSeenInterval;
    if (options.maxSessionsPerUser !== undefined)
      this.#records.maxSessionsPerUser = options.maxSessionsPerUser;
    this.#lifetimes = new LifetimeProfiles(options.lifetimes, this.#layer.recordLayout);
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
  async recordAuthenticatedRequest(
    user: UserRef,
    req: SessionRequest,
    options: RecordOptions = {},
  ): Promise<SessionMeta> {
    const recorded = this.#record(user, req, options);
    return recorded.kept ? copyMeta(recorded.meta) : recorded.meta;
  }

  /**
   * What `recordAuthenticatedRequest` does. When nothing is due, the session is left as it
   * is and `meta` is the remembered decoding itself (`kept`), not to be changed or handed
   * out: `trackSessions` discards it, `recordAuthenticatedRequest` copies it. New metadata
   * shares nothing with what is remembered.
   */
  #record(user: UserRef, req: SessionRequest, options: RecordOptions): { meta: SessionMeta; kept: boolean } {
    const session = req.session as (SessionData & Record<string, unknown>) | null | undefined;
    const sid = sessionIdOfRequest(req);
    if (!session || sid === undefined) {
      throw new RelsSessionError(
        "recordAuthenticatedRequest needs the request's session: mount express-session (or @fastify/session) with RelsRedisStore first",
      );
    }
    const userId = userIdOf(user);
    const now = new Date();
    const handle = sessionHandle(privateHex(sid));
    const known = this.#decoded.of(this.#layer.sessionMeta(sid, session), handle);
    const fromRequest = requestMetadata(req, known ?? undefined);
    const signingIn = !known || known.userId !== userId || known.sessionId !== handle;
    // A sign-in takes its lifetime profile: an unknown name throws whether or not it signs in.
    const profile = this.#lifetimes.profileOf(options.lifetime, fromRequest.clientPlatform);
    const expiresAfter = options.expiresAfter ?? (signingIn ? profile?.idleMs : undefined);
    if (expiresAfter !== undefined && session.cookie.originalMaxAge !== expiresAfter) {
      session.cookie.maxAge = expiresAfter;
      session.cookie.originalMaxAge = expiresAfter;
    }
    const idleExpiry = session.cookie.expires
      ? new Date(session.cookie.expires)
      : new Date(now.getTime() + TUNABLES.users.cookielessLifetimeMs);

    if (signingIn) {
      const signInAt = options.signInAt ?? now;
      // Counted from sign-in; the store enforces it (the record's header), activity never moves it.
      const absoluteExpiresAt = deadlineOf(profile, signInAt);
      const meta: SessionMeta = copyMeta({
        sessionId: handle,
        userId,
        applicationName: this.#applicationName,
        sessionKeyType: options.sessionKeyType ?? "cookie",
        ...fromRequest,
        signInAt,
        lastSeenAt: now,
        createdAt: now,
        expiresAt: earlier(idleExpiry, absoluteExpiresAt),
        // Absent without a profile, as it decodes back from Redis.
        ...(absoluteExpiresAt ? { absoluteExpiresAt } : {}),
        authenticatedAt: signInAt,
        authMethod: authMethodOf(options.authMethod, "recordAuthenticatedRequest"),
      });
      // The write that files this session under the user enforces the store's
      // maxSessionsPerUser, atomically with concurrent sign-ins.
      setMeta(session, meta);
      // In the background, and only with listeners: a sign-in never waits for its event.
      this.#signIns.emit(meta);
      return { meta, kept: false };
    }

    const changed =
      REQUEST_FIELDS.some((field) => known[field] !== fromRequest[field]) ||
      known.applicationName !== this.#applicationName ||
      (options.sessionKeyType !== undefined && options.sessionKeyType !== known.sessionKeyType) ||
      (options.signInAt !== undefined && options.signInAt.getTime() !== known.signInAt.getTime());
    const due = now.getTime() - known.lastSeenAt.getTime() >= this.#lastSeenInterval;
    if (!changed && !due) return { meta: known, kept: true };
    const meta: SessionMeta = copyMeta({
      ...known,
      ...fromRequest,
      applicationName: this.#applicationName,
      sessionKeyType: options.sessionKeyType ?? known.sessionKeyType,
      signInAt: options.signInAt ?? known.signInAt,
      lastSeenAt: now,
      expiresAt: earlier(idleExpiry, known.absoluteExpiresAt ?? null),
    });
    setMeta(session, meta);
    return { meta, kept: false };
  }

  /**
   * Mark the request's session freshly authenticated: the user just confirmed their password,
   * passed a second factor, or signed in again. Sets `authenticatedAt` (now) and `authMethod`
   * in its metadata, written with the request's session (as `recordAuthenticatedRequest`'s
   * changes are). Throws for a request whose session is not signed in.
   *
   * @example
   * ```ts
   * if (await verifyPassword(user, req.body.password)) SessionsManager.markFresh(req, { method: "password" });
   * ```
   */
  markFresh(req: SessionRequest, options: { method?: string } = {}): SessionMeta {
    const session = req.session as (SessionData & Record<string, unknown>) | null | undefined;
    const known = this.#metaOfRequest(req);
    if (!session || !known) {
      throw new RelsSessionError(
        "markFresh needs a signed-in session: record it with recordAuthenticatedRequest at sign-in first",
      );
    }
    const meta = copyMeta({
      ...known,
      authenticatedAt: new Date(),
      authMethod: authMethodOf(options.method, "markFresh"),
    });
    setMeta(session, meta);
    return copyMeta(meta);
  }

  /**
   * Whether the request's session authenticated within `maxAgeMs` (a sign-in, or a
   * `markFresh`), and when and how it did. A session not signed in (none, regenerated,
   * revoked) is never fresh. For frameworks other than Express (a Fastify `preHandler`).
   */
  freshness(req: SessionRequest, options: { maxAgeMs: number }): Freshness {
    const meta = this.#metaOfRequest(req);
    return freshnessOf(
      meta ? (meta.authenticatedAt ?? meta.signInAt) : null,
      meta ? (meta.authMethod ?? "sign-in") : null,
      options.maxAgeMs,
      Date.now(),
    );
  }

  /**
   * The metadata of the request's own session (what it was read with, or set on it since),
   * decoded; null when it has none (signed out, regenerated, revoked). May be the remembered
   * decoding itself: not to be changed or handed out.
   */
  #metaOfRequest(req: SessionRequest): SessionMeta | null {
    const sid = sessionIdOfRequest(req);
    if (!req.session || sid === undefined) return null;
    return this.#decoded.of(this.#layer.sessionMeta(sid, req.session), sessionHandle(privateHex(sid)));
  }

  /**
   * Express middleware for sensitive routes ("sudo mode"): a session that last authenticated
   * more than `maxAgeMs` ago (or is not signed in) is answered before the route runs: by
   * `onStale(req, res, next, stale)` (a redirect to a page that asks for the password, which
   * then calls `markFresh`), else `401` with `{ error: "reauthentication_required", message,
   * maxAgeMs, authenticatedAt }`. Invalid options throw `ConfigError` at mount.
   *
   * @example
   * ```ts
   * app.post("/account/password", SessionsManager.requireFreshSession({ maxAgeMs: 2 * 3_600_000 }), changePassword);
   * ```
   */
  requireFreshSession<Req extends SessionRequest = TrackedRequest, Res = StaleResponse>(
    options: RequireFreshSessionOptions<Req, Res>,
  ): (req: Req, res: Res, next: NextHandler) => void {
    return freshSessionMiddleware<Req, Res>((req, maxAgeMs) => this.freshness(req, { maxAgeMs }), options);
  }

  /**
   * Subscribe to sign-ins: `listener` gets `{ userId, session, isNewDevice }` each time
   * `recordAuthenticatedRequest` links a session to a user for the first time (a session
   * of another user counts as a first time). It is called after the call returns, so it
   * never delays the sign-in; with listeners, each sign-in reads the user's sessions once
   * (to judge `isNewDevice`), and without any it reads nothing. A listener that throws or
   * rejects is reported to `logger.error` and affects neither the request nor the other
   * listeners. Returns the function that unsubscribes.
   *
   * @example
   * ```ts
   * manager.onSignIn(async ({ userId, session, isNewDevice }) => {
   *   if (isNewDevice) await mailer.newSignIn(userId, describeSession(session), session.ip);
   * });
   * ```
   */
  onSignIn(listener: SignInListener): () => void {
    return this.#signIns.on(listener);
  }

  /**
   * Call `listener` on every revocation of a session of this store, from any process: its
   * handle, whose it was, and why (docs/revocation-events.md). The first call opens one
   * subscriber connection for the store (closed with it); no request pays a round trip for
   * it. Delivery is at most once (RELIABILITY.md). A listener that throws is reported to
   * `logger.error` and affects neither the others nor the revocation. Returns the function
   * that unsubscribes.
   *
   * @example
   * ```ts
   * manager.onRevoked((event) => {
   *   if (event.reason !== "clear") audit.log("session ended", event.userId, event.sessionId, event.reason);
   * });
   * ```
   */
  onRevoked(listener: RevocationListener): () => void {
    return this.#layer.revocations.listen(listener, (error) => this.#reportListenerError(error));
  }

  /**
   * Close `connection` (an SSE response, a `ws` WebSocket, a Socket.IO socket) when the
   * session of `req`, the request that opened it, is revoked by any process: an SSE response
   * ends after a last `event: revoked`, a WebSocket closes with code 4401, a Socket.IO socket
   * disconnects. Returns the function that stops watching it (closing it does too).
   *
   * @example
   * ```ts
   * app.get("/live", (req, res) => {
   *   res.writeHead(200, { "content-type": "text/event-stream" });
   *   sessions.closeOnRevoke(req, res);
   * });
   * ```
   */
  closeOnRevoke(
    req: Pick<SessionRequest, "session" | "sessionID">,
    connection: RevocableConnection,
    options?: CloseOnRevokeOptions,
  ): () => void {
    const sid = sessionIdOfRequest(req);
    if (sid === undefined) {
      throw new RelsSessionError(
        "closeOnRevoke needs the request's session: mount express-session (or @fastify/session) with RelsRedisStore first",
      );
    }
    // The session's absolute deadline (lifetime profiles) closes the connection too.
    const deadline = options?.deadline ?? this.#metaOfRequest(req as SessionRequest)?.absoluteExpiresAt;
    return watchConnection(
      this.#layer.revocations,
      sid,
      connection,
      deadline === undefined || deadline === null ? options : { ...options, deadline },
    );
  }

  #reportListenerError(error: unknown): void {
    const message = "rels-session: a revocation listener threw";
    if (this.#logger) return this.#logger.error({ err: error }, message);
    const reason = error instanceof Error ? error.message : String(error);
    process.emitWarning(`${message}: ${reason}`, { code: "RELS_SESSION_REVOCATION_LISTENER" });
  }

  /**
   * Express middleware: records every request whose `getUser(req)` returns a user. `req` is
   * typed as express-session's types augment Express's (`req.session.userId`); annotate it
   * (`getUser: (req: Request) => …`) to hand it to code that takes Express's full `Request`.
   */
  trackSessions<Req extends SessionRequest = TrackedRequest>(
    options: TrackSessionsOptions<Req>,
  ): (req: Req, res: unknown, next: NextHandler) => void {
    const { getUser, ...record } = options;
    return (req, _res, next) => {
      // No session while the store is disconnected (express-session skips it): nothing to record.
      if (!req.session) return next();
      Promise.resolve()
        .then(() => getUser(req))
        .then(
          (user) => void (user === null || user === undefined ? undefined : this.#record(user, req, record)),
        )
        .then(() => next(), next);
    };
  }

  /**
   * The user's live sessions, most recently seen first; `current` marks the request's own.
   * Two round trips for up to a page (1,024) of sessions, two more per further page; for an
   * account with very many sessions, show a page at a time with `activeSessionsPage`.
   */
  async activeSessions(user: UserRef, options: { current?: SessionRequest } = {}): Promise<ActiveSession[]> {
    const userId = userIdOf(user);
    return this.#present(
      userId,
      (await this.#index.sessions(userId)).map(({ meta }) => meta),
      options.current,
      true,
    );
  }

  /**
   * One page of the user's sessions (latest expiry first: for sessions of one lifetime, most
   * recently active first), for accounts with many: two round trips, whatever their number.
   * Pass `nextCursor` back for the next page. The request's own session is on the page it
   * falls on.
   */
  async activeSessionsPage(
    user: UserRef,
    options: { current?: SessionRequest; limit?: number; cursor?: string } = {},
  ): Promise<{ sessions: ActiveSession[]; nextCursor: string | undefined }> {
    const userId = userIdOf(user);
    const page: SessionsPage = await this.#index.page(userId, {
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
    });
    const sessions = this.#present(
      userId,
      page.sessions.map(({ meta }) => meta),
      options.current,
      options.cursor === undefined,
    );
    return { sessions, nextCursor: page.nextCursor };
  }

  /** Mark the current session (its in-flight metadata is newer than Redis's) and sort. */
  #present(
    userId: string,
    listed: SessionMeta[],
    current: SessionRequest | undefined,
    addOwn: boolean,
  ): ActiveSession[] {
    const currentSid = current ? sessionIdOfRequest(current) : undefined;
    const currentHandle = currentSid === undefined ? undefined : sessionHandle(privateHex(currentSid));
    // This request's own metadata may be newer than Redis's: its write comes at the end.
    const ownRaw =
      current?.session && currentSid !== undefined
        ? this.#layer.sessionMeta(currentSid, current.session)
        : undefined;
    const own = decodeSessionMeta(typeof ownRaw === "string" ? safeParse(ownRaw) : ownRaw);
    const mine = own && own.userId === userId && own.sessionId === currentHandle ? own : undefined;
    const metas = listed.map((meta) =>
      mine && meta.sessionId === currentHandle
        ? { ...mine, expiresAt: meta.expiresAt, absoluteExpiresAt: meta.absoluteExpiresAt ?? null }
        : meta,
    );
    if (mine && addOwn && !metas.some((m) => m.sessionId === currentHandle)) metas.push(mine);
    return metas
      .map((meta) => ({
        ...meta,
        absoluteExpiresAt: meta.absoluteExpiresAt ?? null,
        current: meta.sessionId === currentHandle,
      }))
      .sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime());
  }

  /**
   * The handle (`SessionMeta.sessionId`) of the request's own session: what to compare
   * with the handles `activeSessions` lists. Never render `req.sessionID` itself.
   */
  sessionIdOf(req: Pick<SessionRequest, "sessionID" | "session">): string {
    const sid = sessionIdOfRequest(req);
    if (sid === undefined) {
      throw new RelsSessionError(
        "sessionIdOf needs the request's session: mount express-session (or @fastify/session) with RelsRedisStore first",
      );
    }
    return sessionHandle(privateHex(sid));
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
    return tracedRevocation("sessions", () =>
      this.#revokeWhere(user, (handle) => wanted.has(handle), "logout"),
    );
  }

  /** Revoke every session of this user, the current one included. Two round trips. */
  async logoutAllSessions(user: UserRef): Promise<number> {
    return tracedRevocation("all", () => this.#revokeWhere(user, () => true, "logout"));
  }

  /** Revoke every session of this user but the request's own. */
  async logoutOtherSessions(user: UserRef, req: SessionRequest): Promise<number> {
    const keep = this.sessionIdOf(req);
    return tracedRevocation("others", () => this.#revokeWhere(user, (handle) => handle !== keep, "logout"));
  }

  /**
   * @internal The operators' `rels-session revoke`: `logoutSessions` (or, with "all",
   * `logoutAllSessions`) whose revocation events say `"cli"`.
   */
  revokeAsOperator(user: UserRef, sessionIds: readonly string[] | "all"): Promise<number> {
    if (sessionIds === "all")
      return tracedRevocation("all", () => this.#revokeWhere(user, () => true, "cli"));
    const wanted = new Set(sessionIds);
    return tracedRevocation("sessions", () => this.#revokeWhere(user, (handle) => wanted.has(handle), "cli"));
  }

  /**
   * The index a page at a time, then one owner-checked destroy per matching session,
   * pipelined per page: two round trips per page of sessions, with bounded memory.
   */
  async #revokeWhere(
    user: UserRef,
    revoke: (handle: string) => boolean,
    reason: RevocationReason,
  ): Promise<number> {
    const owner = userIdOf(user);
    let revoked = 0;
    let offset = 0;
    for (;;) {
      // The first page's read also learns whether revocations wait for a replica: one round trip.
      const [entries] = await Promise.all([
        this.#records.indexPage(owner, offset, TUNABLES.users.revokePageSize),
        offset === 0 ? this.#records.prepareRevocation() : undefined,
      ]);
      const hexes = entries.map((e) => e.hex).filter((hex) => revoke(sessionHandle(hex)));
      const ended = await this.#records.destroy(hexes, { owner, reason });
      revoked += ended;
      if (entries.length < TUNABLES.users.revokePageSize) return revoked;
      // Between pages, other requests run (see UserSessions.sessions).
      await new Promise((resolve) => setImmediate(resolve));
      // Destroyed sessions left the index; the ones kept (and stale entries an owner check
      // refused) did not.
      offset += entries.length - ended;
    }
  }
}

export type { RequestMetadata };

/**
 * New metadata on the session: under the record's symbol (no framework hashes or serializes
 * it), with the small enumerable revision bumped so the framework sees a change and saves.
 */
function setMeta(session: Record<string, unknown>, meta: SessionMeta): void {
  attachMeta(session, meta);
  if (Object.hasOwn(session, META_FIELD)) delete session[META_FIELD];
  const revision = session[META_REVISION_FIELD];
  session[META_REVISION_FIELD] =
    typeof revision === "number" && Number.isSafeInteger(revision) ? revision + 1 : 1;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
