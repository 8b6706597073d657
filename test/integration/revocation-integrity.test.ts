/** The revocation suite (test/support/revocation-suite.ts) on a standalone Redis. */
import { randomUUID } from "node:crypto";
import { RelsRedisStore } from "../../src/index.js";
import { describeRevocationSuite } from "../support/revocation-suite.js";
import { clientsForThisFile } from "../support/stores.js";

const { client, redis } = clientsForThisFile();

describeRevocationSuite(
  "standalone",
  (options) =>
    new RelsRedisStore({ client, ...options, namespace: options.namespace ?? `t-${randomUUID()}` }),
  () => redis,
);
