import { ReplyError } from "ioredis";
import { RedisUnavailableError } from "../errors.js";
import { withoutCommandArguments } from "./scrub.js";

/** Redis replies that mean "not now" rather than "wrong command". */
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|UNBLOCKED)\b/;

/** `error` scrubbed, and thrown as `RedisUnavailableError` when it means Redis is not reachable now. */
export function rethrowAsUnavailable(error: unknown): never {
  withoutCommandArguments(error);
  throw asUnavailable(error) ?? error;
}

/** The typed error for a failure that means "Redis is not reachable now"; undefined otherwise. */
export function asUnavailable(error: unknown): RedisUnavailableError | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error instanceof RedisUnavailableError) return error;
  if (error instanceof ReplyError && !TRANSIENT_REPLY.test(error.message)) return undefined;
  // Our own bugs are not outages: they must not open the circuit or pass as one.
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError)
    return undefined;
  return new RedisUnavailableError(`Redis is unavailable: ${error.message}`, { cause: error });
}
