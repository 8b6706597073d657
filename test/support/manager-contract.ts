/**
 * The SessionsManager contract: per-user session management end to end, through a real
 * express app, express-session, supertest agents (one per "device") and a real Redis.
 *
 * Written against the store's own APIs only (`sourceOf(store).run` per key, `keysOf(store)`,
 * `scanOf(store)`), so the same suite runs unchanged on a Redis Cluster store:
 * nothing here assumes a single server (no KEYS, no FLUSH, no multi-key command outside one
 * hash tag).
 *
 * What `setup` must give: a fresh store (its own namespace: the suite counts every session
 * and stat under it) and a manager on it with the default `lastSeenInterval` (or one of at
 * least a few seconds) and no `maxSessionsPerUser`. Tests that need other manager settings
 * build their own `RelsSessionsManager` on the same store.
 *
 * The suites, one concern each, live in test/support/manager/suites/; the devices, the app
 * under test and the harness they share in test/support/manager/.
 */
import { describe } from "vitest";
import type { ManagerContractSetup } from "./manager/harness.js";
import { describeListing } from "./manager/suites/listing.js";
import { describeRevoking } from "./manager/suites/revoking.js";
import { describeSessionEnds } from "./manager/suites/session-ends.js";
import { describeStats } from "./manager/suites/stats.js";
import { describeStreaming } from "./manager/suites/streaming.js";
import { describeHostileInput } from "./manager/suites/hostile-input.js";
import { describeTrackSessions } from "./manager/suites/track-sessions.js";

export type { ManagerContractSetup, ManagerContractTarget } from "./manager/harness.js";

export function describeManagerContract(name: string, setup: ManagerContractSetup): void {
  describe(`SessionsManager contract: ${name}`, () => {
    describeListing(setup);
    describeRevoking(setup);
    describeSessionEnds(setup);
    describeStats(setup);
    describeStreaming(setup);
    describeHostileInput(setup);
    describeTrackSessions(setup);
  });
}
