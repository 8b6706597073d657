/**
 * Lifetime profiles (`sessions.lifetimes`): which profile a sign-in takes, and the deadline it
 * gives the session. The manager writes the deadline into the session's metadata
 * (`absoluteExpiresAt`); the store mirrors it into the record's header and enforces it.
 *
 * @module
 */
import type { z } from "zod";
import {
  LIFETIMES_NEED_LAYOUT_4,
  describeIssues,
  lifetimesSchema,
  type LifetimesOptions,
} from "../config.js";
import { ConfigError, RelsSessionError } from "../errors.js";
import type { ClientPlatform } from "./meta-schema.js";

/** A profile as validated: its absolute lifetime and, optionally, its idle timeout (ms). */
export interface ResolvedProfile {
  readonly absoluteMs: number;
  readonly idleMs?: number | undefined;
}

/** A manager's profiles, validated once. */
export class LifetimeProfiles {
  readonly #lifetimes: z.output<typeof lifetimesSchema> | undefined;

  /**
   * `ConfigError` naming the field for invalid profiles, and for profiles with a store that
   * writes layout 3, which cannot hold a deadline. Without `lifetimes`, no profile.
   */
  constructor(lifetimes: LifetimesOptions | undefined, recordLayout: 3 | 4) {
    if (lifetimes === undefined) return;
    const parsed = lifetimesSchema.safeParse(lifetimes);
    if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, lifetimes, "lifetimes"));
    if (recordLayout === 3) throw new ConfigError([{ path: "lifetimes", message: LIFETIMES_NEED_LAYOUT_4 }]);
    this.#lifetimes = parsed.data;
  }

  /**
   * The profile of a sign-in: the one named, else its platform's, else the default; undefined
   * without profiles. A name that is not a profile throws `RelsSessionError`, with or without
   * profiles.
   */
  profileOf(name: string | undefined, platform: ClientPlatform): ResolvedProfile | undefined {
    const lifetimes = this.#lifetimes;
    if (name !== undefined && (lifetimes === undefined || !Object.hasOwn(lifetimes.profiles, name))) {
      const known = lifetimes ? Object.keys(lifetimes.profiles).join(", ") : "none: no sessions.lifetimes";
      throw new RelsSessionError(
        `Unknown lifetime profile ${JSON.stringify(name)} (profiles: ${known}); name one of sessions.lifetimes.profiles`,
      );
    }
    if (lifetimes === undefined) return undefined;
    return lifetimes.profiles[name ?? lifetimes.platforms?.[platform] ?? lifetimes.default];
  }
}

/** The deadline a profile gives a session signed in at `signInAt`; null without a profile. */
export function deadlineOf(profile: ResolvedProfile | undefined, signInAt: Date): Date | null {
  return profile ? new Date(signInAt.getTime() + profile.absoluteMs) : null;
}

/** The earlier of an idle expiry and an absolute deadline (null: none). */
export function earlier(idle: Date, deadline: Date | null): Date {
  return deadline !== null && deadline.getTime() < idle.getTime() ? new Date(deadline) : idle;
}
