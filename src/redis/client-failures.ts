import type { RedisConnectionError } from "../errors.js";
import { RedisUnavailableError } from "../errors.js";
import { connectionError, isSelectFailure } from "./connect-failure.js";
import { withoutCommandArguments } from "./scrub.js";
import type { RedisClient } from "./source.js";
import type { RedisTarget } from "./target.js";

/**
 * What each of a pool's clients last reported, so a failed connect or an open circuit can
 * say why; and the clients that must not be used (their server refused the database asked
 * for, or is too old).
 */
export class ClientFailures {
  readonly #target: RedisTarget;
  readonly #commandTimeoutMs: number;
  readonly #lastError = new WeakMap<RedisClient, Error>();
  readonly #refused = new WeakMap<RedisClient, RedisConnectionError>();

  constructor(target: RedisTarget, commandTimeoutMs: number) {
    this.#target = target;
    this.#commandTimeoutMs = commandTimeoutMs;
  }

  /** ioredis's `error` event of `client`. */
  reported(client: RedisClient, error: Error): void {
    this.#lastError.set(client, withoutCommandArguments(error));
    // Reconnecting cannot help a database number the server refuses: the client is closed
    // once ready (see `ready`) and every call fails with this error.
    if (isSelectFailure(error) && !this.#refused.has(client))
      this.#refused.set(client, connectionError(this.#target, error, this.#commandTimeoutMs));
  }

  /** ioredis's `ready` event of `client`: false for a refused client, which the caller closes. */
  ready(client: RedisClient): boolean {
    if (this.#refused.has(client)) return false;
    this.#lastError.delete(client);
    return true;
  }

  /** `client` must not be used: every call on it fails with `error`. */
  refuse(client: RedisClient, error: RedisConnectionError): void {
    this.#refused.set(client, error);
  }

  refusalOf(client: RedisClient): RedisConnectionError | undefined {
    return this.#refused.get(client);
  }

  lastErrorOf(client: RedisClient): Error | undefined {
    return this.#lastError.get(client);
  }

  /** Why `clients` were last unusable (host:port, reason), or undefined when none reported an error. */
  lastFailure(clients: readonly RedisClient[]): RedisConnectionError | undefined {
    const last = clients
      .map((c) => this.#refused.get(c) ?? this.#lastError.get(c))
      .find((e) => e !== undefined);
    return last && connectionError(this.#target, last, this.#commandTimeoutMs);
  }

  /** A deadline's own error says nothing of why: the last error a connection reported does. */
  causeOf(error: unknown, clients: readonly RedisClient[]): Error | undefined {
    if (!(error instanceof RedisUnavailableError)) return error as Error;
    return clients.map((c) => this.#lastError.get(c)).find((e) => e !== undefined);
  }
}
