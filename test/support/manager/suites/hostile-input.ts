/** The manager contract: hostile user ids, header values and stored metadata. */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ANDROID_APP, DESKTOP_WEB, type Device, IOS_APP, OTHER_WEB, TWO_HOURS } from "../devices.js";
import {
  codePoints,
  collect,
  expectEnded,
  expectSignedIn,
  type ManagerContractSetup,
  newUser,
  openHarness,
  storeAsLayout2,
  totalSessions,
} from "../harness.js";
import type { ActiveSession } from "../../../../src/users/manager-types.js";
import { storedMetaOf } from "../../internals.js";
import type { SessionMeta } from "../../../../src/users/meta-schema.js";
import { streamSessions } from "../../../../src/users/stream.js";
import { UserSessions } from "../../../../src/users/user-sessions.js";
import { META_DEFAULTS } from "../../session-meta.js";
import { UA } from "../../user-agents.js";

export function describeHostileInput(setup: ManagerContractSetup): void {
  describe("hostile input", () => {
    it("user ids with * ? [ ] { } and spaces never see or revoke each other's sessions", async () => {
      const h = await openHarness(setup);
      const tag = randomUUID().slice(0, 8);
      const ids = ["a*", "ab", "a?", "a[b]", "a]", "{a} b", "a b", "*", "a\\*", "{", "}"].map(
        (id) => `${tag}${id}`,
      );
      const devices = new Map<string, Device>();
      for (const id of ids) {
        const device = h.device(DESKTOP_WEB);
        await device.login(id, { expiresAfter: TWO_HOURS });
        devices.set(id, device);
      }
      const index = new UserSessions(h.store);
      for (const id of ids) {
        const own = devices.get(id)!;
        const listed = await h.manager.activeSessions(id);
        expect(
          listed.map((s) => [s.userId, s.sessionId]),
          id,
        ).toEqual([[id, own.handle]]);
        expect(
          (await index.list(id)).map((e) => e.hex),
          id,
        ).toEqual([own.hex]);
        expect(
          (await collect(index.list(id, { stream: true }))).map((e) => e.hex),
          id,
        ).toEqual([own.hex]);
        const account = await own.account();
        expect(
          account.sessions.map((s) => s.sessionId),
          id,
        ).toEqual([own.handle]);
      }

      const star = `${tag}a*`;
      const ab = `${tag}ab`;
      expect(await h.manager.logoutSession(star, devices.get(ab)!.handle)).toBe(false);
      expect(await devices.get(star)!.post("/sessions/revoke-all")).toEqual({ count: 1 });
      await expectEnded(h, devices.get(star)!, star);
      for (const id of ids.filter((i) => i !== star)) await expectSignedIn(h, devices.get(id)!, id);
      expect(await h.manager.activeSessions(star)).toEqual([]);
      expect(await totalSessions(h)).toBe(ids.length - 1);
    });

    it("caps 10 KB header values and strips control characters", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const filler = (c: string) => c.repeat(10_240);
      const browser = h.device({
        "user-agent": `Mozilla/5.0\t(X11;\x85 Linux x86_64)\x9b ${filler("A")}`,
        "x-forwarded-for": "D".repeat(3000),
      });
      const app = h.device({
        "user-agent": UA.okhttp,
        appversion: "\t5.12.0\x85",
        "x-device": `\x9fiPhone15,2 ${filler("B")}`,
        "x-course-id": "\x81course\x9f-1",
        "x-forwarded-for": "203.0.113.77",
      });
      const app2 = h.device({
        "user-agent": UA.okhttp,
        "x-installation-id": filler("C"),
        "x-device": "Pixel 8",
        "x-forwarded-for": "203.0.113.78",
      });
      await browser.login(user, { expiresAfter: TWO_HOURS });
      await app.login(user, { expiresAfter: TWO_HOURS });
      await app2.login(user, { expiresAfter: TWO_HOURS });

      const expectedUa = `Mozilla/5.0(X11; Linux x86_64) ${filler("A")}`.slice(0, 512);
      const check = (sessions: readonly SessionMeta[], where: string) => {
        const b = sessions.find((s) => s.sessionId === browser.handle)!;
        expect(b.userAgent, where).toBe(expectedUa);
        expect(codePoints(b.userAgent), where).toBeLessThanOrEqual(512);
        expect(b.ip, where).toBe("D".repeat(64));
        expect(b.clientPlatform, where).toBe("web");
        const a = sessions.find((s) => s.sessionId === app.handle)!;
        expect(a.appVersion, where).toBe("5.12.0");
        expect(a.device, where).toBe(`iPhone15,2 ${filler("B")}`.slice(0, 128));
        expect(a.courseId, where).toBe("course-1");
        expect(a.clientPlatform, where).toBe("ios_app");
        const a2 = sessions.find((s) => s.sessionId === app2.handle)!;
        expect(a2.installationId, where).toBe(filler("C").slice(0, 128));
        expect(a2.clientPlatform, where).toBe("android_app");
        for (const s of sessions) {
          for (const field of [
            "ip",
            "userAgent",
            "appVersion",
            "installationId",
            "device",
            "courseId",
          ] as const) {
            expect(/\p{Cc}/u.test(s[field] ?? ""), `${where}: ${field} has a control character`).toBe(false);
          }
        }
      };
      check([browser.meta, app.meta, app2.meta], "as recorded");
      check(await h.manager.activeSessions(user), "as stored");
      check((await app.account()).sessions, "as listed to the current request");

      for (const device of [browser, app, app2]) {
        const stored = JSON.stringify(await storedMetaOf(h.store, device.sid));
        expect(stored).toBeDefined();
        expect(stored!.length).toBeLessThan(2048);
        expect(stored).not.toMatch(/[\u0080-\u009f\t]/);
      }
    });

    it("lists a sparse old meta payload with defaults and skips a garbage one, without throwing", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const web = h.device(DESKTOP_WEB);
      const old = h.device(IOS_APP);
      const garbage = h.device(ANDROID_APP);
      const polluted = h.device(OTHER_WEB);
      for (const device of [web, old, garbage, polluted])
        await device.login(user, { expiresAfter: TWO_HOURS });
      const oldExpiresAt = (await h.manager.activeSessions(user)).find(
        (s) => s.sessionId === old.handle,
      )!.expiresAt;

      // What 0.1 left in Redis (layout 2): sparse, garbled and hostile metadata.
      const createdAt = new Date("2023-05-06T07:08:09.000Z");
      await storeAsLayout2(
        h,
        old,
        JSON.stringify({ userId: user, sessionId: old.handle, createdAt: createdAt.toISOString() }),
      );
      await storeAsLayout2(h, garbage, JSON.stringify("{not json"));
      await storeAsLayout2(
        h,
        polluted,
        '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"userId":{"x":1}}',
      );

      const listed = await h.manager.activeSessions(user);
      expect(listed.map((s) => s.sessionId)).toEqual([web.handle, old.handle]);
      expect(listed[1]).toEqual({
        sessionId: old.handle,
        userId: user,
        ...META_DEFAULTS,
        signInAt: createdAt,
        lastSeenAt: createdAt,
        createdAt,
        expiresAt: oldExpiresAt,
        // A listing says "no deadline" as null, also for metadata recorded before lifetimes.
        absoluteExpiresAt: null,
        current: false,
      } satisfies ActiveSession);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();

      // Through the app, too.
      const account = await web.account();
      expect(account.sessions.map((s) => [s.sessionId, s.current])).toEqual([
        [web.handle, true],
        [old.handle, false],
      ]);
    });

    it("streamSessions yields a sparse old meta payload (with defaults) and skips garbage ones", async () => {
      const h = await openHarness(setup);
      const user = newUser();
      const web = h.device(DESKTOP_WEB);
      const old = h.device(IOS_APP);
      const garbage = h.device(ANDROID_APP);
      for (const device of [web, old, garbage]) await device.login(user, { expiresAfter: TWO_HOURS });
      const createdAt = new Date("2023-05-06T07:08:09.000Z");
      await storeAsLayout2(
        h,
        old,
        JSON.stringify({ userId: user, sessionId: old.handle, createdAt: createdAt.toISOString() }),
      );
      await storeAsLayout2(h, garbage, JSON.stringify("{not json"));

      const streamed = await collect(streamSessions(h.store, 2));
      expect(streamed.map((m) => m.sessionId).sort()).toEqual([web.handle, old.handle].sort());
      const sparse = streamed.find((m) => m.sessionId === old.handle);
      expect(sparse).toMatchObject({ userId: user, applicationName: "", clientPlatform: "web", createdAt });
    });
  });
}
