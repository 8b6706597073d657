import { NotConfiguredError } from "./errors.js";
import type { RedisSource } from "./redis/source.js";

/**
 * What is kept of the default instance, as this module and a store made without a client
 * (`new RelsRedisStore()`: its pool and namespace) see it. `RelsSession` (rels-session.ts),
 * the one writer, keeps a whole `DefaultInstance` here; naming only this much keeps the
 * store from depending on the module that builds it.
 */
export interface DefaultInstance {
  readonly source: RedisSource;
  readonly config: { readonly redisOptions: { readonly namespace: string } };
}

/**
 * The process-wide default instance (`RelsSession`), kept on `globalThis` under a
 * registered symbol: the ESM and CommonJS builds are two module copies, and an app whose
 * CommonJS part calls `configure()` must find it configured from its ESM part too.
 * The `v1` names the shape of what is stored, should it ever change.
 */
const STATE_KEY = Symbol.for("rels-session.default-instance.v1");

interface DefaultState {
  current: DefaultInstance | undefined;
}

type WithState = typeof globalThis & { [STATE_KEY]?: DefaultState };

function state(): DefaultState {
  const global = globalThis as WithState;
  return (global[STATE_KEY] ??= { current: undefined });
}

export const NOT_CONFIGURED_MESSAGE =
  "rels-session is not configured: call RelsSession.configure({ applicationName, redisOptions }) first, " +
  "or give the store an ioredis client (new RelsRedisStore({ client })), or use createRelsSession()";

/** For the manager: a store on the app's own client has one, asked of the store, not of `configure`. */
export const NOT_CONFIGURED_FOR_MANAGER_MESSAGE =
  "rels-session is not configured: SessionsManager.* and RelsSession.manager() use RelsSession.configure({ applicationName, redisOptions }). " +
  "With a store on your own ioredis client (new RelsRedisStore({ client })), use that store's manager: " +
  "SessionsManager.for(store, { applicationName }); with createRelsSession(), the instance's .manager";

/** The default instance, or undefined before `configure`. */
export function currentInstance(): DefaultInstance | undefined {
  return state().current;
}

/** The default instance; throws `NotConfiguredError` before `configure`. */
export function defaultInstance(message = NOT_CONFIGURED_MESSAGE): DefaultInstance {
  const current = state().current;
  if (!current) throw new NotConfiguredError(message);
  return current;
}

/** Make `next` the default instance; returns the one it replaces. */
export function swapDefaultInstance(next: DefaultInstance | undefined): DefaultInstance | undefined {
  const shared = state();
  const previous = shared.current;
  shared.current = next;
  return previous;
}
