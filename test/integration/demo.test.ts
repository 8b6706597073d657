/**
 * The demo app (demo/app.ts) over HTTP, against the shared test Redis: what its README tells
 * people to try must work. Runs under its own namespace and removes its keys afterwards.
 */
import { createHash, randomUUID } from "node:crypto";
import request from "supertest";
import { describe, expect, it } from "vitest";
import type { StatsTotals } from "../../src/index.js";
import { demoForThisFile } from "../support/demo-app.js";

const IPHONE_SAFARI =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const DESKTOP_CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const APPLICATION = "Turtle demo (test)";
const demo = demoForThisFile(APPLICATION);

/** A browser: keeps its cookies, always sends its user agent (and, behind the proxy, its IP). */
interface Browser {
  get(path: string): request.Test;
  post(path: string): request.Test;
}

function browser(userAgent: string, forwardedFor?: string): Browser {
  const agent = request.agent(demo.app);
  const headers = (test: request.Test) => {
    test.set("User-Agent", userAgent);
    if (forwardedFor) test.set("X-Forwarded-For", forwardedFor);
    return test;
  };
  return { get: (path) => headers(agent.get(path)), post: (path) => headers(agent.post(path)) };
}

async function signIn(b: Browser, username: string): Promise<void> {
  await b.post("/login").type("form").send({ username }).expect(303).expect("Location", "/");
}

interface Row {
  sessionId: string;
  platform: string;
  current: boolean;
  html: string;
}

/** The rows of the account page's device list, in page order. */
function rows(html: string): Row[] {
  const found: Row[] = [];
  for (const match of html.matchAll(
    /<li data-session-id="([^"]*)" data-platform="([^"]*)" data-current="(true|false)"[^>]*>([\s\S]*?)<\/li>/g,
  )) {
    found.push({ sessionId: match[1]!, platform: match[2]!, current: match[3] === "true", html: match[4]! });
  }
  return found;
}

async function accountRows(b: Browser): Promise<Row[]> {
  const res = await b.get("/account").expect(200).expect("Content-Type", /html/);
  return rows(res.text);
}

const SIGN_IN_FORM = '<form method="post" action="/login"';
const SIGNED_OUT_ELSEWHERE = "You were signed out from another device.";

async function stats(): Promise<StatsTotals> {
  const res = await request(demo.app).get("/stats").expect(200).expect("Content-Type", /json/);
  return res.body as StatsTotals;
}

describe("demo app", () => {
  it("shows the sign-in form to a visitor, and sets no cookie for it", async () => {
    const res = await request(demo.app).get("/").expect(200).expect("Content-Type", /html/);
    expect(res.text).toContain(SIGN_IN_FORM);
    expect(res.headers["set-cookie"]).toBeUndefined();
    await request(demo.app).get("/account").expect(303).expect("Location", "/");
  });

  it("refuses an empty user name", async () => {
    const res = await request(demo.app).post("/login").type("form").send({ username: "  " }).expect(400);
    expect(res.text).toContain(SIGN_IN_FORM);
    expect(res.headers["set-cookie"]).toBeUndefined();
  });

  it("lists both devices of a user, marks the current one, and revoking one signs it out", async () => {
    const user = `turtle-${randomUUID()}`;
    const phone = browser(IPHONE_SAFARI, "203.0.113.7");
    const desktop = browser(DESKTOP_CHROME);
    const before = await stats();

    await signIn(phone, user);
    await signIn(desktop, user);

    const home = await phone.get("/").expect(200);
    expect(home.text).toContain(`Signed in as <strong id="user">${user}</strong>`);
    expect(home.text).not.toContain(SIGN_IN_FORM);
    // A page for people: no link to the operators' JSON counters (or anywhere else).
    expect(home.text).not.toContain("/stats");
    expect(home.text).not.toMatch(/<a\s/);

    const fromPhone = await accountRows(phone);
    expect(fromPhone).toHaveLength(2);
    const phoneRow = fromPhone.find((r) => r.current);
    const desktopRow = fromPhone.find((r) => !r.current);
    expect(phoneRow?.platform).toBe("mobile_web");
    expect(phoneRow?.html).toContain("Mobile browser");
    expect(phoneRow?.html).toContain("203.0.113.7");
    expect(phoneRow?.html).toContain("This device");
    expect(phoneRow?.html).toContain("Safari on iPhone");
    expect(phoneRow?.html).toContain("Active now");
    expect(desktopRow?.html).toContain("Chrome on Windows");
    expect(desktopRow?.html).toMatch(/Active (just now|\d+ seconds? ago)/);
    // The current device comes first, whatever was seen last.
    expect(fromPhone[0]?.current).toBe(true);
    // The raw user agent is only behind the Details toggle.
    expect(desktopRow?.html.indexOf("Chrome/126.0.0.0")).toBeGreaterThan(
      desktopRow?.html.indexOf("<details") ?? Infinity,
    );
    expect(phoneRow?.html).not.toContain("/revoke");
    expect(phoneRow?.html).toContain(APPLICATION);
    expect(desktopRow?.platform).toBe("web");
    expect(desktopRow?.html).toContain("Chrome/126.0.0.0");
    expect(desktopRow?.html).toContain(`action="/sessions/${desktopRow?.sessionId}/revoke"`);

    // The desktop sees the same two sessions, with itself as the current one.
    const fromDesktop = await accountRows(desktop);
    expect(fromDesktop.map((r) => r.sessionId).sort()).toEqual(fromPhone.map((r) => r.sessionId).sort());
    expect(fromDesktop.find((r) => r.current)?.sessionId).toBe(desktopRow?.sessionId);
    expect(fromDesktop[0]?.sessionId).toBe(desktopRow?.sessionId);

    const during = await stats();
    expect(during.totalSessions).toBe(before.totalSessions + 2);
    expect(during.byPlatform.mobile_web).toBe(before.byPlatform.mobile_web + 1);
    expect(during.byPlatform.web).toBe(before.byPlatform.web + 1);
    expect(during.byApplication[APPLICATION]).toBe((before.byApplication[APPLICATION] ?? 0) + 2);

    await phone.post(`/sessions/${desktopRow!.sessionId}/revoke`).expect(303).expect("Location", "/account");
    // The notice names the device, once: a reload shows the page without it.
    const revokedText = "Chrome on Windows has been signed out. Anyone using it will have to sign in again.";
    expect((await phone.get("/account").expect(200)).text).toContain(revokedText);
    expect((await phone.get("/account").expect(200)).text).not.toContain('id="notice"');

    const signedOut = await desktop.get("/").expect(200);
    expect(signedOut.text).toContain(SIGN_IN_FORM);
    expect(signedOut.text).not.toContain(user);
    expect(signedOut.text).toContain(SIGNED_OUT_ELSEWHERE);
    // Once: the next visit is a plain sign-in page.
    expect((await desktop.get("/").expect(200)).text).not.toContain(SIGNED_OUT_ELSEWHERE);

    const after = await accountRows(phone);
    expect(after.map((r) => r.sessionId)).toEqual([phoneRow!.sessionId]);
    expect((await stats()).totalSessions).toBe(before.totalSessions + 1);

    // A handle that is not (or no longer) one of this user's sessions revokes nothing.
    await phone.post(`/sessions/${desktopRow!.sessionId}/revoke`).expect(303).expect("Location", "/account");
    expect((await phone.get("/account").expect(200)).text).toContain("That device was already signed out.");
    expect(await accountRows(phone)).toHaveLength(1);

    await phone.post("/logout").expect(303).expect("Location", "/");
    const afterOwnLogout = (await phone.get("/").expect(200)).text;
    expect(afterOwnLogout).toContain(SIGN_IN_FORM);
    // Signing yourself out is not "signed out from another device".
    expect(afterOwnLogout).not.toContain(SIGNED_OUT_ELSEWHERE);
    expect((await stats()).totalSessions).toBe(before.totalSessions);
  });

  it("cannot revoke another user's session by its handle", async () => {
    const alice = browser(DESKTOP_CHROME);
    const mallory = browser(DESKTOP_CHROME);
    await signIn(alice, `alice-${randomUUID()}`);
    await signIn(mallory, `mallory-${randomUUID()}`);
    const [aliceRow] = await accountRows(alice);
    await mallory.post(`/sessions/${aliceRow!.sessionId}/revoke`).expect(303).expect("Location", "/account");
    expect((await mallory.get("/account").expect(200)).text).toContain("That device was already signed out.");
    expect(await accountRows(alice)).toHaveLength(1);
  });

  it("signs out every other session, keeping the current one", async () => {
    const user = `turtle-${randomUUID()}`;
    const [a, b, c] = [browser(DESKTOP_CHROME), browser(IPHONE_SAFARI), browser(DESKTOP_CHROME)];
    for (const x of [a, b, c]) await signIn(x, user);
    expect(await accountRows(a)).toHaveLength(3);
    await a.post("/sessions/revoke-others").expect(303).expect("Location", "/account");
    expect((await a.get("/account").expect(200)).text).toContain(
      "Your 2 other devices have been signed out.",
    );
    for (const x of [b, c]) {
      const page = (await x.get("/").expect(200)).text;
      expect(page).toContain(SIGN_IN_FORM);
      expect(page).toContain(SIGNED_OUT_ELSEWHERE);
    }
    const left = await accountRows(a);
    expect(left).toHaveLength(1);
    expect(left[0]?.current).toBe(true);
  });

  it("asks before signing a device out, and takes no notice from the URL", async () => {
    const user = `turtle-${randomUUID()}`;
    const [a, b] = [browser(DESKTOP_CHROME), browser(IPHONE_SAFARI)];
    await signIn(a, user);
    await signIn(b, user);
    const page = (await a.get("/account?notice=signed-out-elsewhere").expect(200)).text;
    const other = rows(page).find((r) => !r.current);
    // The sign-out button sits inside a closed disclosure that asks first.
    expect(other?.html).toMatch(
      /<details class="confirm"[^>]*>\s*<summary[^>]*>.*Sign out.*<\/summary>[\s\S]*Sign out Safari on iPhone\? It will need to sign in again\./,
    );
    expect(page).toContain("Sign out all other devices");
    // A link cannot make the page claim a sign-out, nor put its own text in the page.
    expect(page).not.toContain(SIGNED_OUT_ELSEWHERE);
    expect(page).not.toContain('id="notice"');
    expect((await a.get("/account?notice=revoked").expect(200)).text).not.toContain('id="notice"');
    expect((await a.get("/account?notice=%3Cb%3Ehi").expect(200)).text).not.toContain("<b>hi");
    // The flag cookie says nothing about the session: a constant, never the sid.
    const login = await browser(DESKTOP_CHROME)
      .post("/login")
      .type("form")
      .send({ username: user })
      .expect(303);
    const cookies = ([] as string[]).concat(login.headers["set-cookie"] ?? []);
    expect(cookies.find((c) => c.startsWith("turtle.signed-in="))).toMatch(
      /^turtle\.signed-in=1; Max-Age=\d+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/,
    );
  });

  it("escapes user agents and user names in the page", async () => {
    const attacker = browser(`Mozilla/5.0 <script>alert(1)</script> "onmouseover='x'`);
    const name = `<img src=x onerror=alert(2)>-${randomUUID().slice(0, 8)}`;
    await signIn(attacker, name);
    const res = await attacker.get("/account").expect(200);
    expect(res.text).not.toContain("<script>alert(1)</script>");
    expect(res.text).not.toContain("<img src=x");
    expect(res.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt; &quot;onmouseover=&#39;x&#39;");
    expect(res.text).toContain("&lt;img src=x onerror=alert(2)&gt;");
    expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
  });

  it("allows the page's two scripts (local times, the live panel) by their hashes, and no other", async () => {
    const b = browser(DESKTOP_CHROME);
    await signIn(b, `turtle-${randomUUID()}`);
    const res = await b.get("/account").expect(200);
    const scripts = [...res.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(2);
    const hashes = scripts.map(
      (script) => `'sha256-${createHash("sha256").update(script).digest("base64")}'`,
    );
    const policy = String(res.headers["content-security-policy"]);
    const scriptSources = policy.split("; ").filter((d) => d.startsWith("script-src"));
    expect(scriptSources).toHaveLength(1);
    expect(scriptSources[0]!.split(" ").slice(1).sort()).toEqual(hashes.sort());
    // The live panel's stream is the one connection a script may open: to this site.
    expect(policy.split("; ").filter((d) => d.startsWith("connect-src"))).toEqual(["connect-src 'self'"]);
    // Without script the exact times still read, and say their zone.
    expect(res.text).toMatch(
      /<time datetime="[^"]+" data-format="datetime">\d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC<\/time>/,
    );
  });
});
