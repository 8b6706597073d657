import type { RedisConnectionError } from "../errors.js";
import type { SourceListeners } from "./source.js";

/** The `code` of the process warnings below, for `process.on("warning", (w) => w.code …)`. */
export const OUTAGE_WARNING_CODES = {
  down: "RELS_SESSION_REDIS_DOWN",
  recovered: "RELS_SESSION_REDIS_RECOVERED",
} as const;

/** Where the two messages go: the app's logger when it gave one, else a process warning. */
export interface OutageReporter {
  warn(details: object, message: string): void;
}

/** What the warnings need to know of the pool. */
export interface WatchedSource {
  subscribe(listeners: SourceListeners): () => void;
  /** Why Redis was last unusable, if a connection said. */
  readonly lastFailure: RedisConnectionError | undefined;
}

/**
 * Tell the operator once per outage that Redis is unavailable, and once when it answers
 * again: to `logger.warn` when the app gave a logger, else `process.emitWarning` (printed to
 * stderr by Node; routed with `process.on("warning")`). The circuit may open and close many
 * times in one outage (each probe that fails); only the first opening after a recovery
 * counts. The text names host:port and the reason, never a credential or a session.
 * Returns the call that stops it.
 */
export function warnOnOutage(source: WatchedSource, address: string, logger?: OutageReporter): () => void {
  let down = false;
  const report = (code: string, message: string, details: object) => {
    if (logger) logger.warn({ ...details, code }, message);
    else process.emitWarning(message, { code });
  };
  return source.subscribe({
    disconnect: () => {
      if (down) return;
      down = true;
      const failure = source.lastFailure;
      // A dropped connection opens the circuit before the first reconnect says why.
      const what = failure
        ? failure.message
        : `Redis at ${address} closed the connection or stopped answering`;
      report(
        OUTAGE_WARNING_CODES.down,
        `rels-session: Redis is unavailable. ${what}. Session calls fail fast until it answers again`,
        {
          address,
          reason: failure?.reason ?? "connection lost",
        },
      );
    },
    connect: () => {
      if (!down) return;
      down = false;
      report(OUTAGE_WARNING_CODES.recovered, `rels-session: Redis at ${address} answers again`, { address });
    },
  });
}
