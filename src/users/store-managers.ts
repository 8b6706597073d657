import { z } from "zod";
import {
  SessionStoreConfigSchema,
  describeIssues,
  sessionsOptionsSchema,
  storeOptionsSchema,
} from "../config.js";
import { ConfigError } from "../errors.js";
import type { DataLayerStore } from "../record/of-store.js";
import type { Logger } from "../types.js";
import { RelsSessionsManager } from "./manager.js";

/** What `SessionsManager.for(store, options)` takes: the manager's settings of `RelsSession.configure()`. */
export const storeManagerOptionsSchema = z.strictObject({
  applicationName: SessionStoreConfigSchema.shape.applicationName,
  ...sessionsOptionsSchema.shape,
  /** Where a failing sign-in listener is reported; without one, a process warning. */
  logger: storeOptionsSchema.shape.logger,
});
export type StoreManagerOptions = z.input<typeof storeManagerOptionsSchema>;

type Settings = Pick<
  z.output<typeof storeManagerOptionsSchema>,
  "applicationName" | "lastSeenInterval" | "maxSessionsPerUser" | "lifetimes"
>;

/** One manager per store, so that `onSignIn` listeners and decoded metadata are shared by every caller. */
const managers = new WeakMap<
  DataLayerStore,
  { readonly manager: RelsSessionsManager; readonly settings: Settings }
>();

/** @internal `createRelsSession` files its manager, so `SessionsManager.for(instance.store)` finds it. */
export function fileManager(store: DataLayerStore, manager: RelsSessionsManager, settings: Settings): void {
  managers.set(store, { manager, settings });
}

/**
 * The manager of `store`: made on the first call (a store on an app's own ioredis client,
 * `new RelsRedisStore({ client })`, has no other), the same one after. A later call that asks
 * for other settings is a `ConfigError`: one store, one manager.
 */
export function managerOf(store: DataLayerStore, options: StoreManagerOptions): RelsSessionsManager {
  const parsed = storeManagerOptionsSchema.safeParse(options);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, options, "SessionsManager.for"));
  const { logger, ...settings } = parsed.data;
  const filed = managers.get(store);
  if (filed) {
    // Lifetime profiles are an object: compared as JSON (their values are numbers and names).
    // Over both sides' names: an optional setting given on one side only differs too.
    const names = new Set([...Object.keys(settings), ...Object.keys(filed.settings)]) as Set<keyof Settings>;
    const differing = [...names].filter(
      (k) => JSON.stringify(settings[k]) !== JSON.stringify(filed.settings[k]),
    );
    if (differing.length === 0) return filed.manager;
    throw new ConfigError(
      differing.map((k) => ({
        path: `SessionsManager.for.${k}`,
        message: `this store already has a manager with ${k} ${JSON.stringify(filed.settings[k])} (given: ${JSON.stringify(settings[k])}); one store has one manager`,
      })),
    );
  }
  const manager = new RelsSessionsManager({
    store,
    applicationName: settings.applicationName,
    lastSeenInterval: settings.lastSeenInterval,
    ...(settings.maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser: settings.maxSessionsPerUser }),
    ...(settings.lifetimes === undefined ? {} : { lifetimes: settings.lifetimes }),
    ...(logger ? { logger: logger as Logger } : {}),
  });
  fileManager(store, manager, settings);
  return manager;
}
