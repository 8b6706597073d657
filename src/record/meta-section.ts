import { META_FIELD } from "./keys.js";

/**
 * Session metadata (`SessionMeta`, written by the manager) as the record keeps it: its own
 * section of the record (layout 4), and on the session object under a non-enumerable symbol,
 * so `JSON.stringify(req.session)`, spreads and `structuredClone` never carry it (nor
 * express-session's hash, computed several times a request).
 */
export const SESSION_META: unique symbol = Symbol.for("rels-session.meta") as never;

/** The small enumerable field the manager bumps when it sets new metadata, so the framework sees a change and saves. */
export const META_REVISION_FIELD = "_relsRev";

/**
 * A session's metadata: the stored section's text (written back unchanged), new metadata
 * (an object, written as JSON), or null (none).
 */
export type MetaValue = string | object | null;

/** The metadata set on `session` (under the symbol), or undefined when none was set on this object. */
export function attachedMeta(session: object): MetaValue | undefined {
  return Object.hasOwn(session, SESSION_META)
    ? (session as { [SESSION_META]: MetaValue })[SESSION_META]
    : undefined;
}

/** Set `session`'s metadata, invisible to JSON, spreads and structuredClone. */
export function attachMeta(session: object, value: MetaValue): void {
  Object.defineProperty(session, SESSION_META, {
    value,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

/**
 * The metadata a session object carries itself: set under the symbol, else in an enumerable
 * `_rels` field; undefined when neither (null, "none", is an answer).
 */
export function ownMeta(session: object): MetaValue | undefined {
  const attached = attachedMeta(session);
  return attached === undefined ? fieldMeta(session) : attached;
}

/** The metadata in an enumerable `_rels` field (layouts 2 and 3, or an app that sets it), if any. */
export function fieldMeta(session: object): MetaValue | undefined {
  if (!Object.hasOwn(session, META_FIELD)) return undefined;
  const value = (session as Record<string, unknown>)[META_FIELD];
  return value !== null && typeof value === "object" ? value : null;
}

/** The section's text for `value` ("" for none). */
export function metaSection(value: MetaValue): string {
  if (value === null) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? "";
}

/** The value a section's text stands for. */
export function metaOfSection(text: string): MetaValue {
  return text === "" ? null : text;
}

/** `value` as data (a section's text parsed); null for none or text that is not JSON. */
export function metaData(value: MetaValue | undefined): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return null;
  }
}

/** `session` without its `_rels` field (a shallow copy, only when it has one). */
export function withoutMetaField<T extends object>(session: T): T {
  if (!Object.hasOwn(session, META_FIELD)) return session;
  const { [META_FIELD]: _dropped, ...rest } = session as Record<string, unknown>;
  return rest as T;
}

/** The metadata in a decoded payload's `_rels` field (layouts 2 and 3), taken out of the session object. */
export function takeMetaField(session: object): MetaValue {
  const meta = fieldMeta(session);
  if (meta === undefined) return null;
  delete (session as Record<string, unknown>)[META_FIELD];
  return meta;
}
