/** What `SessionRecords#write` is asked to write, and what it answers. */
import type { RecordHeader } from "./format.js";
import type { SessionLink } from "./link.js";

/**
 * When a write may land:
 * - `"exists"`: the session was read or written through this object; if it is gone
 *   (revoked, destroyed, expired) the write is refused, however long the request ran;
 * - `"absent"`: only where there is no session and no revocation (moving a plain-sid session);
 * - `"new"`: a session object this process cannot place (one the request created, or a
 *   framework's copy of one it read): refused while the session's revocation marker lives,
 *   and, where there is no session, created only if its cookie was issued recently (`bornMs`).
 */
export type WriteCondition = "exists" | "absent" | "new";

export interface WriteRequest {
  readonly hex: string;
  readonly payload: string | Buffer;
  /** Lifetime in whole ms; 0 for a session that never expires. */
  readonly ttlMs: number;
  /** Whose session it is (signed in), or undefined (anonymous). */
  readonly link: SessionLink | undefined;
  readonly condition: WriteCondition;
  /** The header the session was read (or last written) with: when its filing still holds, no script runs. */
  readonly previous: RecordHeader | undefined;
  /** Its plain-sid copy's key, while mirroring (`mirrorWrites`): a revocation ends that copy too. "" otherwise. */
  readonly plain: string;
  /** When the session's cookie was issued (ms since the epoch; 0: not known), for `"new"`. */
  readonly bornMs: number;
  /**
   * The metadata section (layout 4): JSON text, "" for none; undefined writes layout 3 (the
   * metadata, if any, is inside the payload).
   */
  readonly meta: string | undefined;
  /**
   * The caller does not know the session's metadata (a copy it cannot place): a stored
   * record that holds some is left as it is and the write answers `STORED_META`.
   */
  readonly keepMeta: boolean;
  readonly now: number;
}

/**
 * The header written; undefined when the write was refused (the session is gone or revoked);
 * `STORED_META` when nothing was written because the stored record holds metadata the
 * caller did not know (`keepMeta`): read it, and write again with it.
 */
export type WriteOutcome = RecordHeader | undefined | typeof STORED_META;
export const STORED_META = Symbol("the stored record holds metadata");
