import { NEVER_EXPIRES_MS } from "./keys.js";
import { decodeRecord, type RecordHeader } from "./format.js";
import { TUNABLES } from "../tunables.js";

/**
 * The filing score: the expiry a signed-in session is filed under in its user's index and
 * its stats bucket. It runs a slack ahead of the session's expiry (a tenth of the lifetime,
 * at most an hour), so a write or touch refiles the session only when its expiry passes the
 * score, not on every request.
 */
/**
 * The score a session is filed under: its expiry plus a slack, so refiling is rare; never past
 * its absolute deadline (0: none), so it leaves its index and stats bucket when it leaves Redis.
 */
export function filingScore(expiry: number, ttlMs: number, deadline: number): number {
  const cap = deadline > 0 ? Math.min(deadline, NEVER_EXPIRES_MS) : NEVER_EXPIRES_MS;
  if (expiry >= NEVER_EXPIRES_MS) return cap;
  return Math.min(
    cap,
    Math.ceil(
      expiry + Math.min(ttlMs * TUNABLES.record.filingSlackFraction, TUNABLES.record.filingSlackMaxMs),
    ),
  );
}

/**
 * A lifetime of `ttlMs` (0: none) that ends no later than `deadline` (0: none): the header's
 * expiry and the filing's base, so a session leaves its index and stats at its deadline even
 * if nobody reads it (when it is the bound, Redis is given the deadline plus a grace instead,
 * for the lifetime sweep: records.ts `endsAt`). 0 or less when the deadline has passed, or for
 * a session with neither.
 */
export function lifetimeWithin(ttlMs: number, deadline: number, now: number): number {
  if (deadline <= 0) return ttlMs;
  const left = deadline - now;
  return ttlMs > 0 ? Math.min(ttlMs, left) : left;
}

/** Where and until when a write files its session. */
export interface Filing {
  readonly index: string;
  readonly bucket: string;
  readonly plain: string;
  readonly expiresAt: number | undefined;
  /** `expiresAt`, or NEVER_EXPIRES_MS. */
  readonly expiry: number;
  /** The lifetime given to Redis (capped by the deadline); 0: none. */
  readonly ttlMs: number;
  /** The absolute lifetime's end; 0: none. */
  readonly deadline: number;
}

/**
 * Whether a write may keep the filing it was read with: same owner, bucket and plain copy, and
 * for a signed-in session a score that still covers the new expiry without running further
 * ahead than the new lifetime's slack or the deadline (a shortened lifetime is refiled at once).
 */
export function filingHolds(kept: RecordHeader, filing: Filing): boolean {
  if (kept.index !== filing.index || kept.bucket !== filing.bucket || kept.plain !== filing.plain)
    return false;
  return (
    (filing.index === "" && filing.bucket === "") ||
    !refileDue(kept.score, filing.expiry, filingScore(filing.expiry, filing.ttlMs, filing.deadline))
  );
}

/** A filing must be refreshed when the expiry passes it, or when it runs past the new score. */
export function refileDue(score: number, expiry: number, newScore: number): boolean {
  return score < expiry || score > newScore;
}

/**
 * The filing a replaced record had, when another request changed it since `previous` was read
 * (owner, bucket, plain copy, or a lower score); undefined when it is the one read, or raised
 * only (a refile further ahead still covers the new expiry).
 */
export function refiledSince(
  replaced: Buffer,
  previous: RecordHeader,
): { index: string; bucket: string } | undefined {
  const header = decodeRecord(replaced)?.header;
  if (header === undefined) return undefined;
  const same =
    header.index === previous.index && header.bucket === previous.bucket && header.plain === previous.plain;
  return same && header.score >= previous.score ? undefined : { index: header.index, bucket: header.bucket };
}
