/**
 * An account with thousands of sessions is listed a page at a time and revoked whole
 * (issue 8, heavy accounts). Figures for 60,000 sessions: `npx tsx bench/heavy-account.ts`.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RelsRedisStore } from "../../src/index.js";
import { RelsSessionsManager } from "../../src/users/manager.js";
import { signInMany } from "../support/signed-in.js";
import { clientsForThisFile } from "../support/stores.js";

const SESSIONS = 3_000;
const LIMIT = 50;
const { client } = clientsForThisFile();

describe(`an account with ${SESSIONS} sessions`, () => {
  it("activeSessionsPage pages through all of them, and logoutAllSessions revokes them all", async () => {
    const store = new RelsRedisStore({ client, namespace: `t-${randomUUID()}`, maxSessionsPerUser: 0 });
    const manager = new RelsSessionsManager({ store, applicationName: "Turtle" });
    const user = `heavy-${randomUUID()}`;
    const sids = await signInMany(store, manager, user, SESSIONS);
    const expected = new Set(sids.map((sessionID) => manager.sessionIdOf({ sessionID })));

    const seen = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await manager.activeSessionsPage(user, {
        limit: LIMIT,
        ...(cursor === undefined ? {} : { cursor }),
      });
      pages += 1;
      expect(page.sessions.length, `page ${pages} holds at most the limit`).toBeLessThanOrEqual(LIMIT);
      for (const { sessionId } of page.sessions) {
        expect(seen.has(sessionId), `session listed twice (page ${pages})`).toBe(false);
        expect(expected.has(sessionId), "a listed session is one of the user's").toBe(true);
        seen.add(sessionId);
      }
      expect(pages, "paging ends").toBeLessThanOrEqual(SESSIONS / LIMIT + 1);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(seen.size, "every session is listed once").toBe(SESSIONS);

    expect(await manager.logoutAllSessions(user)).toBe(SESSIONS);
    expect(await manager.activeSessions(user)).toEqual([]);
    expect((await manager.activeSessionsPage(user, { limit: LIMIT })).sessions).toEqual([]);
    const left = await Promise.all(sids.slice(0, 200).map((sid) => store.get(sid)));
    expect(
      left.filter((s) => s !== null),
      "revoked sessions are gone",
    ).toEqual([]);
  }, 60_000);
});
