/**
 * Counts what a test's code sends to Redis, in round trips rather than commands.
 *
 * A round trip is a batch of commands written before any reply could come back: the
 * first command opens a batch, and the batch closes at the next `setImmediate` (the end
 * of the current macrotask) or as soon as a reply to one of its commands arrives,
 * whichever comes first. So `await get(a); await get(b)` is 2 round trips and
 * `Promise.all([get(a), get(b)])` is 1, however the commands are spread over microtasks.
 *
 * Script calls (`defineCommand`) are recorded under their script name (`relsWrite`, …)
 * rather than as `evalsha`, so a test can tell a touch from a read.
 */
import { createHash } from "node:crypto";
import type { Command, Redis } from "ioredis";
import { SCRIPTS } from "../../src/record/scripts.js";

export interface RoundTripCounter {
  /** Every command sent since the last reset, in order (lower-case names, or script names). */
  readonly commands: string[];
  /** Round trips since the last reset. */
  readonly roundTrips: number;
  /** Forget what was recorded so far (a batch still open is closed). */
  reset(): void;
  /** Put the client's own `sendCommand` back. */
  restore(): void;
}

const SCRIPT_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries(SCRIPTS).map(([name, { lua }]) => [createHash("sha1").update(lua).digest("hex"), name]),
);

function nameOf(command: Command): string {
  const name = command.name.toLowerCase();
  if (name === "evalsha" || name === "eval") {
    const first = command.args[0];
    const sha =
      name === "eval" && typeof first === "string"
        ? createHash("sha1").update(first).digest("hex")
        : String(first);
    return SCRIPT_NAMES.get(sha) ?? name;
  }
  return name;
}

export function countRoundTrips(client: Redis): RoundTripCounter {
  const hadOwn = Object.prototype.hasOwnProperty.call(client, "sendCommand");
  const ownSend = client.sendCommand;
  const original = ownSend.bind(client);
  const commands: string[] = [];
  let roundTrips = 0;
  // Each batch gets a number; closing an old batch's number never closes a newer batch.
  let openBatch: number | undefined;
  let batches = 0;
  const close = (batch: number) => {
    if (openBatch === batch) openBatch = undefined;
  };

  client.sendCommand = (command: Command, stream?: Parameters<Redis["sendCommand"]>[1]): unknown => {
    commands.push(nameOf(command));
    if (openBatch === undefined) {
      const batch = ++batches;
      openBatch = batch;
      roundTrips += 1;
      setImmediate(() => close(batch));
    }
    const batch = openBatch;
    // Registered before the caller gets the promise, so it runs before any command the
    // caller sends in reaction to this reply.
    command.promise.then(
      () => close(batch),
      () => close(batch),
    );
    return original(command, stream);
  };

  return {
    get commands() {
      return [...commands];
    },
    get roundTrips() {
      return roundTrips;
    },
    reset() {
      commands.length = 0;
      roundTrips = 0;
      openBatch = undefined;
    },
    restore() {
      if (hadOwn) client.sendCommand = ownSend;
      else delete (client as { sendCommand?: unknown }).sendCommand;
    },
  };
}
