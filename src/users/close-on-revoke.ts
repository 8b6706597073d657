/**
 * `closeOnRevoke`: tie a long-lived connection (a Server-Sent Events response, a `ws`
 * WebSocket, a Socket.IO socket) to the session of the request that opened it, so that the
 * connection ends when that session is revoked, by any process (record/revocation-feed.ts).
 *
 * The connections are typed by what is called on them, so this package depends on neither
 * `ws` nor `socket.io`. A connection is watched from the call until it closes; the session
 * must have been read by the request (its cookie's sid): a revocation that lands between the
 * request's read and this call is caught by the feed's look-up of each newly watched session.
 */
import { z } from "zod";
import { describeIssues } from "../config.js";
import { ConfigError } from "../errors.js";
import { privateHex } from "../ids.js";
import type { RevocationFeed, SessionEndReason } from "../record/revocation-feed.js";

/** A Server-Sent Events response (Node's `http.ServerResponse`, Express's `res`). */
export interface EventStreamResponse {
  write(chunk: string): unknown;
  end(): unknown;
  once(event: "close", listener: () => void): unknown;
  /** Node's: true once the response (or its socket) has closed; its "close" event is then over. */
  readonly closed?: boolean;
  readonly destroyed?: boolean;
  readonly writableEnded?: boolean;
}

/** A WebSocket of the `ws` package (server side), or anything with its `close(code, reason)`. */
export interface WebSocketLike {
  readonly readyState: number;
  close(code?: number, reason?: string): unknown;
  once(event: "close", listener: () => void): unknown;
}

/** A Socket.IO server-side socket. */
export interface SocketIoSocketLike {
  disconnect(close?: boolean): unknown;
  once(event: "disconnect", listener: () => void): unknown;
  /** Socket.IO's: true once disconnected; its "disconnect" event is then over. */
  readonly disconnected?: boolean;
}

/** What `closeOnRevoke` can end. */
export type RevocableConnection = EventStreamResponse | WebSocketLike | SocketIoSocketLike;

/**
 * Why `closeOnRevoke` closed a connection: the session's revocation reason; `"gone"`, the
 * session found missing after the subscriber reconnected (a revocation it missed, or an
 * expiry); or `"deadline"` (`options.deadline`).
 */
export type ConnectionCloseReason = SessionEndReason | "deadline";

export interface CloseOnRevokeOptions {
  /**
   * Server-Sent Events: write a last `event: revoked` (its data `{"reason": …}`) before
   * ending the response, so the page can tell a revocation from a dropped connection.
   * @default true
   */
  sseEvent?: boolean;
  /**
   * WebSocket close code. 4401 is in the range RFC 6455 leaves to applications (4000–4999);
   * 1008 (policy violation) is the registered alternative.
   * @default 4401
   */
  closeCode?: number;
  /**
   * Close the connection at this time even if the session is not revoked (an absolute
   * session deadline). Without it, none.
   */
  deadline?: Date | number;
  /** Called once the connection was closed by this helper, with why. */
  onClose?: (reason: ConnectionCloseReason) => void;
}

/**
 * The close codes a WebSocket may send (RFC 6455 §7.4: 1000–1003, 1007–1014, and 3000–4999
 * for libraries and applications); `ws` throws on any other, from wherever it is closed.
 */
const isSendableCloseCode = (code: number) =>
  (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
  (code >= 3000 && code <= 4999);

/** What `closeOnRevoke` checks at the call, so nothing fails later in a timer or an event. */
const closeOnRevokeOptionsSchema = z.looseObject({
  closeCode: z
    .number()
    .int()
    .refine(isSendableCloseCode, {
      message: "expected a WebSocket close code: 1000–1003, 1007–1014 or 3000–4999",
    })
    .optional(),
  deadline: z
    .union([z.date(), z.number()])
    .refine((at) => Number.isFinite(typeof at === "number" ? at : at.getTime()), {
      message: "expected a valid Date or ms since the epoch",
    })
    .optional(),
  onClose: z
    .custom<(reason: never) => void>((v) => typeof v === "function", {
      message: "expected a function (reason)",
    })
    .optional(),
});

/** A WebSocket's `readyState` once it is closing, and once closed. */
const WS_CLOSING = 2;
const WS_CLOSED = 3;
/** setTimeout's longest delay (2^31 − 1 ms, about 24.8 days): a later deadline is reached in steps. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Watch `connection` for the session `sid`: on its revocation (or at `options.deadline`) it
 * is closed; once closed, by anyone, it is no longer watched. Returns the call that stops
 * watching without closing.
 */
export function watchConnection(
  feed: RevocationFeed,
  sid: string,
  connection: RevocableConnection,
  options: CloseOnRevokeOptions = {},
): () => void {
  const checked = closeOnRevokeOptionsSchema.safeParse(options);
  if (!checked.success) throw new ConfigError(describeIssues(checked.error, options, "closeOnRevoke"));
  // Its close event is over (the client left while the route awaited something): watching it
  // would keep an entry and a timer for a connection that can never report closing.
  if (isClosed(connection)) return () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const stop = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    unwatch();
  };
  const close = (reason: ConnectionCloseReason) => {
    if (done) return;
    stop();
    end(connection, reason, options);
    options.onClose?.(reason);
  };
  const unwatch = feed.watch(privateHex(sid), close);
  onClosed(connection, stop);
  if (options.deadline !== undefined) {
    const at = typeof options.deadline === "number" ? options.deadline : options.deadline.getTime();
    const arm = () => {
      const left = at - Date.now();
      // From a timer: what the connection or the app's onClose throws must not end the process.
      if (left <= 0) return closeContained(close, "deadline");
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      timer.unref();
    };
    arm();
  }
  return stop;
}

function closeContained(close: (reason: ConnectionCloseReason) => void, reason: ConnectionCloseReason): void {
  try {
    close(reason);
  } catch {
    // a connection already torn down, or the app's onClose
  }
}

function isSocketIo(connection: RevocableConnection): connection is SocketIoSocketLike {
  return typeof (connection as Partial<SocketIoSocketLike>).disconnect === "function";
}

function isWebSocket(connection: RevocableConnection): connection is WebSocketLike {
  return (
    typeof (connection as Partial<WebSocketLike>).close === "function" &&
    typeof (connection as Partial<WebSocketLike>).readyState === "number"
  );
}

/** Already closed, by what each kind of connection says of itself. */
function isClosed(connection: RevocableConnection): boolean {
  if (isSocketIo(connection)) return connection.disconnected === true;
  if (isWebSocket(connection)) return connection.readyState >= WS_CLOSED;
  const res = connection as EventStreamResponse;
  return res.closed === true || res.destroyed === true || res.writableEnded === true;
}

function onClosed(connection: RevocableConnection, listener: () => void): void {
  if (isSocketIo(connection)) connection.once("disconnect", listener);
  else (connection as EventStreamResponse | WebSocketLike).once("close", listener);
}

function end(
  connection: RevocableConnection,
  reason: ConnectionCloseReason,
  options: CloseOnRevokeOptions,
): void {
  if (isSocketIo(connection)) {
    connection.disconnect(true);
  } else if (isWebSocket(connection)) {
    if (connection.readyState < WS_CLOSING) connection.close(options.closeCode ?? 4401, `session ${reason}`);
  } else if (!isClosed(connection)) {
    // Never after its end (the app's, or another watcher's of the same response, before its
    // "close" event): Node answers a write after end with an "error" event, uncaught if unheard.
    if (options.sseEvent ?? true) connection.write(`event: revoked\ndata: ${JSON.stringify({ reason })}\n\n`);
    connection.end();
  }
}
