/**
 * Sign-in events: who subscribes, how a sign-in is judged to come from a new device, and
 * how a failing subscriber is kept away from the request that signed in.
 *
 * @module
 */
import { describeDevice } from "./device.js";
import type { SessionMeta } from "./meta-schema.js";
import type { Logger } from "../types.js";

/** What a sign-in listener receives. */
export interface SignInEvent {
  /** The user's id, in its string form (as in {@link SessionMeta}.userId). */
  readonly userId: string;
  /** The metadata just recorded for the new session (its `sessionId` is the safe handle). */
  readonly session: SessionMeta;
  /**
   * True when none of the user's other live sessions shares this one's browser and OS
   * (or, for the apps, its installation id or app and OS): the cue for a "new sign-in to
   * your account" mail. Also true when the other sessions could not be read.
   */
  readonly isNewDevice: boolean;
}

/**
 * Called once per sign-in, after the request's session is linked to a user. May be async;
 * a listener that throws or rejects is reported to the logger and affects nothing else.
 */
export type SignInListener = (event: SignInEvent) => void | Promise<void>;

/** The manager's side: how to read the user's other sessions, and where failures go. */
export interface SignInEventsOptions {
  /** The user's live sessions, as `activeSessions` lists them. One round trip or two. */
  readonly listSessions: (userId: string) => Promise<readonly SessionMeta[]>;
  /** Where a failing listener or a failed read is reported; without one, a process warning. */
  readonly logger?: Logger | undefined;
}

/** A session's device signature; see {@link sameDevice}. */
interface DeviceKey {
  readonly installationId: string | null;
  readonly client: string | null;
  readonly os: string | null;
}

function deviceKey(meta: SessionMeta): DeviceKey {
  // Sessions recorded before the device fields existed are judged from their headers.
  const device = meta.deviceType === undefined ? describeDevice(meta) : meta;
  const client = device.browser?.name ?? (device.app ? `app:${device.app.name ?? ""}` : null);
  return { installationId: meta.installationId, client, os: device.os?.name ?? null };
}

/**
 * Two sessions run on the same device when the apps' installation ids match, or when
 * both name the same browser (or app) and the same OS. Unknown parts match nothing: two
 * `curl` sessions are not "the same device".
 */
export function sameDevice(a: SessionMeta, b: SessionMeta): boolean {
  const ka = deviceKey(a);
  const kb = deviceKey(b);
  if (ka.installationId !== null && ka.installationId === kb.installationId) return true;
  return ka.client !== null && ka.os !== null && ka.client === kb.client && ka.os === kb.os;
}

/**
 * The listeners of one manager. Emitting costs nothing without listeners, and with them
 * one read of the user's sessions, made after `recordAuthenticatedRequest` returns so
 * that a sign-in never waits for it.
 */
export class SignInEvents {
  readonly #listeners = new Set<SignInListener>();
  readonly #options: SignInEventsOptions;

  constructor(options: SignInEventsOptions) {
    this.#options = options;
  }

  /** Subscribe; returns the function that unsubscribes. */
  on(listener: SignInListener): () => void {
    // A wrapper per subscription: subscribing the same function twice calls it twice.
    const subscribed: SignInListener = (event) => listener(event);
    this.#listeners.add(subscribed);
    return () => {
      this.#listeners.delete(subscribed);
    };
  }

  /** Whether anyone listens: without listeners a sign-in reads nothing more. */
  get listening(): boolean {
    return this.#listeners.size > 0;
  }

  /**
   * Judge the sign-in and call every listener, in the background. Never throws and never
   * rejects: every failure goes to the logger.
   */
  emit(session: SessionMeta): void {
    if (!this.listening) return;
    // #deliver catches every failure it can report; only a logger that itself throws is left.
    void this.#deliver(session).catch(() => undefined);
  }

  async #deliver(session: SessionMeta): Promise<void> {
    let isNewDevice = true;
    try {
      const others = (await this.#options.listSessions(session.userId)).filter(
        (s) => s.sessionId !== session.sessionId,
      );
      isNewDevice = !others.some((other) => sameDevice(other, session));
    } catch (err) {
      // Better a "new sign-in" mail too many than a sign-in on a new device unreported.
      this.#report(
        err,
        session,
        "rels-session: could not read the user's sessions for a sign-in event; reported as a new device",
      );
    }
    const event: SignInEvent = { userId: session.userId, session, isNewDevice };
    // Side by side: a slow mail sender does not hold up the other listeners.
    await Promise.all(
      [...this.#listeners].map(async (listener) => {
        try {
          await listener(event);
        } catch (err) {
          this.#report(err, session, "rels-session: a sign-in listener failed");
        }
      }),
    );
  }

  #report(err: unknown, session: SessionMeta, message: string): void {
    // The handle, never the sid: it is what the account page shows and safe in logs.
    const details = { err, session: session.sessionId };
    if (this.#options.logger) {
      this.#options.logger.error(details, message);
      return;
    }
    const error = err instanceof Error ? err : new Error(String(err));
    process.emitWarning(`${message}: ${error.message}`, { code: "RELS_SESSION_SIGN_IN_LISTENER" });
  }
}
