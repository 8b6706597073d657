/**
 * What the published types say about express-session and Express, written out structurally
 * instead of imported: the library's .d.ts must type-check in an app that has neither
 * Express's nor express-session's types (a Fastify app). express-session's `Store`, `Session`,
 * `SessionData` and Express's `Request` and `Response` are assignable to these, and a
 * `RelsRedisStore` is assignable to express-session's `Store` (`session({ store })`).
 * test/unit/published-types.test.ts type-checks a Fastify app against dist/ without them.
 */
import type { EventEmitter } from "node:events";
import { Store } from "express-session";
import type { SessionData } from "../record/session-data.js";

/** express-session's `Session & SessionData`: `req.session`, as `createSession` builds it. */
export interface StoreSession extends SessionData {
  id: string;
  regenerate(callback: (err: unknown) => void): this;
  destroy(callback: (err: unknown) => void): this;
  reload(callback: (err: unknown) => void): this;
  resetMaxAge(): this;
  save(callback?: (err: unknown) => void): this;
  touch(): this;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- express-session's own callback types, kept as they are so the store stays assignable to its Store */
/** express-session's `Store`, which `RelsRedisStore` extends. */
export interface SessionStoreBase extends EventEmitter {
  regenerate(req: object, callback: (err?: any) => any): void;
  load(sid: string, callback: (err: any, session?: SessionData) => any): void;
  createSession(req: object, session: SessionData): StoreSession;
  get(sid: string, callback: (err: any, session?: SessionData | null) => void): void;
  set(sid: string, session: SessionData, callback?: (err?: any) => void): void;
  destroy(sid: string, callback?: (err?: any) => void): void;
  all?(callback: (err: any, obj?: SessionData[] | { [sid: string]: SessionData } | null) => void): void;
  length?(callback: (err: any, length?: number) => void): void;
  clear?(callback?: (err?: any) => void): void;
  touch?(sid: string, session: SessionData, callback?: () => void): void;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** express-session's `Store` class, typed as {@link SessionStoreBase}. */
export const StoreBase = Store as unknown as abstract new () => SessionStoreBase;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express's own global augmentation point
  namespace Express {
    /**
     * Express's request, as the types loaded augment it: express-session adds `session` and
     * `sessionID`. Declared (empty) here so that it resolves without Express's types.
     */
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- merged with Express's, when loaded
    interface Request {}
  }
}

/** What `requireSession()` reads of an Express request. */
export interface RequestAccepting {
  readonly session?: unknown;
  accepts(types: string[]): string | false;
}

/** What `requireSession()` writes through an Express response. */
export interface UnavailableResponse {
  readonly headersSent: boolean;
  status(code: number): UnavailableResponse;
  set(field: string, value: string): UnavailableResponse;
  type(type: string): UnavailableResponse;
  json(body: unknown): unknown;
  send(body: string): unknown;
}
