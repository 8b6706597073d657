/**
 * A stored session as the data layer decodes it, written structurally (express-session's
 * `Cookie` and `SessionData` are assignable to these): the published .d.ts needs neither
 * Express's nor express-session's types.
 */

/** express-session's `Cookie`: the stored cookie of a session. */
export interface SessionCookie {
  originalMaxAge: number | null;
  maxAge?: number | undefined;
  signed?: boolean | undefined;
  expires?: Date | null | undefined;
  httpOnly?: boolean | undefined;
  path?: string | undefined;
  domain?: string | undefined;
  secure?: boolean | "auto" | undefined;
  sameSite?: boolean | "lax" | "strict" | "none" | undefined;
}

/** express-session's `SessionData`: a session as stored, its cookie and the app's fields. */
export interface SessionData {
  cookie: SessionCookie;
}
