/**
 * Revocation events reach open connections, as one suite run on every topology (standalone,
 * Cluster, Sentinel): an SSE stream and a WebSocket opened by a session are closed within a
 * second of its revocation by another process (the CLI, in a child process), with the
 * revocation's reason; another session's stay open; and a sign-in beyond the cap announces
 * its victim as "cap" (on Cluster the cap's victims are revoked by a follow-up, not inside the
 * write script).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RelsSessionInstance, RevocationEvent } from "../../src/index.js";
import { privateHex, sessionHandle } from "../../src/ids.js";
import { revocationsOf } from "./internals.js";
import {
  HANG_MS,
  within,
  openEventStream,
  openWebSocket,
  revokeFromAnotherProcess,
  startLiveApp,
  type LiveApp,
} from "./live-connections.js";
import { waitUntil } from "../helpers/redis/wait.js";

export interface EventsTopology {
  /** A new instance on the topology, under `namespace` (closed by the suite). */
  instance(namespace: string, options?: { maxSessionsPerUser?: number }): RelsSessionInstance;
  /** The CLI's flags that reach the same Redis (`--url …`, `--cluster …`, `--sentinel … --name …`). */
  cliFlags(): string[];
}

export function describeRevocationEvents(name: string, topology: () => EventsTopology): void {
  describe(`revocation events reach open connections (${name})`, () => {
    let instance: RelsSessionInstance;
    let app: LiveApp;
    let namespace: string;

    beforeAll(async () => {
      namespace = `t-ev-${randomUUID()}`;
      instance = topology().instance(namespace);
      app = await startLiveApp(instance);
      // The subscriber connects on the first watched connection; wait for it, so the close
      // below comes from the event, not from the re-check made once it connects.
      instance.onRevoked(() => undefined);
      await revocationsOf(instance.store).subscribed();
    }, 60_000);

    afterAll(async () => {
      await app?.close();
      await instance?.close();
    });

    it("an SSE stream and a WebSocket of a session revoked by another process close within 1 s; another session's stay open", async () => {
      const userId = `u-${randomUUID()}`;
      const revoked = await app.login(userId);
      const kept = await app.login(userId);
      const [sse, ws, otherSse, otherWs] = await Promise.all([
        openEventStream(app.base, revoked.cookie),
        openWebSocket(app.base, revoked.cookie),
        openEventStream(app.base, kept.cookie),
        openWebSocket(app.base, kept.cookie),
      ]);
      const revokedAt = await revokeFromAnotherProcess(
        [...topology().cliFlags(), "--namespace", namespace],
        userId,
        sessionHandle(privateHex(revoked.sid)),
      );
      const [sseEnd, wsEnd] = await Promise.all([
        within(sse.ended, "the SSE stream"),
        within(ws.ended, "the WebSocket"),
      ]);
      // Closed by the event the CLI's revocation published (not found gone later): reason "cli".
      expect(sseEnd.reason).toBe("cli");
      expect(wsEnd).toMatchObject({ code: 4401, reason: "session cli" });
      // The child prints once its revocation is acknowledged: the closes come no later than 1 s after.
      expect(Math.max(sseEnd.at, wsEnd.at) - revokedAt).toBeLessThan(1000);
      expect(otherSse.isOpen() && otherWs.isOpen()).toBe(true);
      otherSse.close();
      otherWs.close();
    }, 60_000);

    it('a sign-in beyond the cap announces the session it pushes out, as "cap"', async () => {
      const capped = topology().instance(`t-ev-${randomUUID()}`, { maxSessionsPerUser: 1 });
      const heard: RevocationEvent[] = [];
      capped.onRevoked((event) => heard.push(event));
      const cappedApp = await startLiveApp(capped);
      try {
        await revocationsOf(capped.store).subscribed();
        const userId = `u-${randomUUID()}`;
        const first = await cappedApp.login(userId);
        const sse = await openEventStream(cappedApp.base, first.cookie);
        await cappedApp.login(userId);
        expect((await within(sse.ended, "the first session's SSE stream")).reason).toBe("cap");
        await waitUntil(
          "the cap event",
          async () => (heard.some((e) => e.reason === "cap") ? true : "not yet"),
          {
            timeoutMs: HANG_MS,
          },
        );
        expect(heard.filter((e) => e.reason === "cap")).toEqual([
          {
            reason: "cap",
            sessionId: sessionHandle(privateHex(first.sid)),
            userId,
            applicationName: "Turtle",
          },
        ]);
      } finally {
        await cappedApp.close();
        await capped.close();
      }
    }, 60_000);
  });
}
