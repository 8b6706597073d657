import { NEVER_EXPIRES_MS } from "./keys.js";
import { decodeRecord, type RecordHeader } from "./format.js";
import { TUNABLES } from "../tunables.js";

/**
 * The filing score: the expiry a signed-in session is filed under in its user's index and
 * its stats bucket. It runs a slack ahead of the session's expiry (a tenth of the lifetime,
 * at most an hour), so a write or touch refiles the session only when its expiry passes the
 * score, not on every request.
 */
/** The score a session is filed under: its expiry plus a slack, so refiling is rare. */
export function filingScore(expiry: number, ttlMs: number): number {
  if (expiry >= NEVER_EXPIRES_MS) return NEVER_EXPIRES_MS;
  return Math.min(
    NEVER_EXPIRES_MS,
    Math.ceil(
      expiry + Math.min(ttlMs * TUNABLES.record.filingSlackFraction, TUNABLES.record.filingSlackMaxMs),
    ),
  );
}

/**
 * Whether a write may keep the filing it was read with: same owner, bucket and plain copy, and
 * for a signed-in session a score that still covers the new expiry without running further
 * ahead than the new lifetime's slack (a shortened lifetime is refiled at once).
 */
export function filingHolds(
  kept: RecordHeader,
  filing: { index: string; bucket: string; plain: string; expiry: number },
  ttlMs: number,
): boolean {
  if (kept.index !== filing.index || kept.bucket !== filing.bucket || kept.plain !== filing.plain)
    return false;
  return (
    (filing.index === "" && filing.bucket === "") ||
    !refileDue(kept.score, filing.expiry, filingScore(filing.expiry, ttlMs))
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
