/** The manager contract: streamSessions and UserSessions.list, paged and streamed. */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ANDROID_APP, DESKTOP_WEB, IOS_APP, OTHER_WEB, TWO_HOURS } from "../devices.js";
import {
  addIndexEntry,
  collect,
  type ManagerContractSetup,
  newUser,
  openHarness,
  signInThreeDevices,
} from "../harness.js";
import { recordsOf } from "../../../../src/record/of-store.js";
import { sessionHandle } from "../../../../src/ids.js";
import { streamSessions } from "../../../../src/users/stream.js";
import { UserSessions } from "../../../../src/users/user-sessions.js";

export function describeStreaming(setup: ManagerContractSetup): void {
  describe("streaming", () => {
    it("streamSessions(store, batchSize) yields every signed-in session's meta exactly once, and no anonymous one", async () => {
      const h = await openHarness(setup);
      const alice = newUser("alice");
      const bob = newUser("bob");
      const aliceDevices = await signInThreeDevices(h, alice);
      const bobWeb = h.device(OTHER_WEB);
      const bobIos = h.device(IOS_APP);
      await bobWeb.login(bob, { expiresAfter: TWO_HOURS });
      await bobIos.login(bob, { expiresAfter: TWO_HOURS });
      const anonymous = [h.device(DESKTOP_WEB), h.device(ANDROID_APP)];
      for (const device of anonymous) await device.post("/visit");
      const signedIn = [...Object.values(aliceDevices), bobWeb, bobIos];
      expect(await h.sessionKeys()).toHaveLength(signedIn.length + anonymous.length);

      const batchSize = 2;
      expect(batchSize).toBeLessThan(signedIn.length);
      const streamed = await collect(streamSessions(h.store, batchSize));
      expect(streamed.map((m) => m.sessionId).sort()).toEqual(signedIn.map((d) => d.handle).sort());
      for (const device of signedIn) {
        const meta = streamed.find((m) => m.sessionId === device.handle)!;
        expect(meta.userId).toBe(device === bobWeb || device === bobIos ? bob : alice);
        expect(meta.clientPlatform).toBe(device.meta.clientPlatform);
      }
      const anonymousHandles = anonymous.map((d) => sessionHandle(d.hex));
      expect(streamed.filter((m) => anonymousHandles.includes(m.sessionId))).toEqual([]);
    });

    it("UserSessions.list(user) and list(user, { stream: true }) agree, over several pages", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const { ios, android, web } = await signInThreeDevices(h, user);
      const index = new UserSessions(h.store);
      // Index entries past one page of `scanCount`, and two already expired.
      const extra = recordsOf(h.store).scanCount * 2 + 7;
      const now = Date.now();
      for (let i = 0; i < extra; i++)
        await addIndexEntry(
          h.store,
          user,
          randomBytes(32).toString("hex"),
          new Date(now + 3_600_000 + i * 1000),
        );
      await addIndexEntry(h.store, user, randomBytes(32).toString("hex"), new Date(now - 60_000));
      await addIndexEntry(h.store, user, randomBytes(32).toString("hex"), new Date(now - 1));

      const listed = await index.list(user);
      const streamed = await collect(index.list(user, { stream: true }));
      expect(listed).toHaveLength(3 + extra);
      expect(streamed.map((e) => [e.hex, e.expiresAt.getTime()])).toEqual(
        listed.map((e) => [e.hex, e.expiresAt.getTime()]),
      );
      expect(listed.map((e) => e.hex)).toEqual(expect.arrayContaining([ios.hex, android.hex, web.hex]));
      expect(listed.every((e) => e.expiresAt.getTime() > now)).toBe(true);

      // And for a user with no index at all.
      const nobody = newUser("nobody");
      expect(await index.list(nobody)).toEqual([]);
      expect(await collect(index.list(nobody, { stream: true }))).toEqual([]);
    });
  });
}
