/**
 * The demo's pages: the sign-in form and the "Your devices" page, modelled on GitHub's
 * sessions page and Google's "Your devices". Plain HTML and a little CSS; confirmation is a
 * `<details>` disclosure, so no script is needed (the CSP allows none).
 */
import { describeSession } from "../src/index.js";
import type { ActiveSession, ClientPlatform, DeviceType } from "../src/index.js";
import { day, escapeHtml, layout, relativeTime, timeTag } from "./html.js";

/** Longest user name accepted. */
export const MAX_USERNAME_LENGTH = 64;

/** Messages a redirect can ask the page to show (`?notice=…`), so no text comes from the URL. */
export const NOTICES = {
  revoked: "That device has been signed out. Its next request will land on the sign-in form.",
  "revoked-others": "Every other device has been signed out.",
  "nothing-to-revoke": "There was no other device to sign out.",
  "not-found": "That device is no longer signed in (it may have expired or been signed out already).",
  "signed-out-elsewhere": "You were signed out from another device.",
} as const;

export type NoticeKey = keyof typeof NOTICES;

export function isNoticeKey(value: unknown): value is NoticeKey {
  return typeof value === "string" && Object.hasOwn(NOTICES, value);
}

const PLATFORM_LABELS: Readonly<Record<ClientPlatform, string>> = {
  ios_app: "iOS app",
  android_app: "Android app",
  mobile_web: "Mobile browser",
  web: "Web browser",
};

/** Outline icons, inline (the CSP loads nothing): a laptop, a phone, a tablet, a question mark. */
const ICON_PATHS: Readonly<Record<DeviceType, string>> = {
  desktop: '<rect x="4" y="5" width="16" height="11" rx="1.5"/><path d="M2 19h20"/>',
  mobile: '<rect x="7" y="2.5" width="10" height="19" rx="2"/><path d="M11 18.5h2"/>',
  app: '<rect x="7" y="2.5" width="10" height="19" rx="2"/><path d="M11 18.5h2"/><path d="M10 8.5h4v4h-4z"/>',
  tablet: '<rect x="4.5" y="2.5" width="15" height="19" rx="2"/><path d="M11 18.5h2"/>',
  unknown: '<circle cx="12" cy="12" r="9"/><path d="M9.5 9.5a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .8-1 1.5v.7"/><path d="M12 17h.01"/>',
};

function icon(deviceType: DeviceType | undefined): string {
  return `<div class="icon" aria-hidden="true"><svg viewBox="0 0 24 24">${ICON_PATHS[deviceType ?? "unknown"]}</svg></div>`;
}

function noticeBlock(notice: NoticeKey | undefined): string {
  if (notice === undefined) return "";
  const warning = notice === "signed-out-elsewhere" ? " warning" : "";
  return `<p class="notice${warning}" role="status" id="notice" data-notice="${notice}">${escapeHtml(NOTICES[notice])}</p>`;
}

export function signInPage(options: { error?: string; notice?: NoticeKey } = {}): string {
  return layout(
    "Sign in to Turtle",
    `${noticeBlock(options.notice)}
  ${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ""}
  <form method="post" action="/login" id="sign-in" class="sign-in">
    <label>User name <input name="username" autocomplete="username" required maxlength="${MAX_USERNAME_LENGTH}" autofocus></label>
    <button type="submit" class="primary">Sign in</button>
  </form>
  <p class="hint">No password: this is a demo. Sign in with the same name from a second browser to see both devices.</p>`,
  );
}

/** The current device first, then the others, most recently active first. */
function ordered(sessions: readonly ActiveSession[]): ActiveSession[] {
  return [...sessions].sort(
    (a, b) => Number(b.current) - Number(a.current) || b.lastSeenAt.getTime() - a.lastSeenAt.getTime(),
  );
}

export function accountPage(userId: string, sessions: readonly ActiveSession[], notice: NoticeKey | undefined, now: Date): string {
  const rows = ordered(sessions);
  const others = rows.filter((s) => !s.current).length;
  const signOutOthers =
    others > 0
      ? confirmForm({
          id: "revoke-others",
          action: "/sessions/revoke-others",
          open: `Sign out all other devices`,
          question: `Sign out ${others === 1 ? "the other device" : `all ${others} other devices`}? ${others === 1 ? "It" : "They"} will need to sign in again.`,
          confirm: "Sign out all other devices",
        })
      : "";
  return layout(
    "Your devices",
    `<p class="lead">Signed in as <strong id="user">${escapeHtml(userId)}</strong>. These are the devices signed in to your account.</p>
  ${noticeBlock(notice)}
  <h2>${rows.length === 1 ? "1 device" : `${rows.length} devices`}</h2>
  <ul class="devices" id="sessions">
${rows.map((s) => deviceRow(s, now)).join("\n")}
  </ul>
  <div class="page-actions">
    ${signOutOthers}
    <form method="post" action="/logout"><button type="submit" id="logout">Sign out of this device</button></form>
  </div>
  <p class="hint"><a href="/stats">Live session counts (JSON)</a></p>`,
  );
}

function deviceRow(s: ActiveSession, now: Date): string {
  const label = describeSession(s);
  const active = s.current ? "Active now" : `Active ${relativeTime(s.lastSeenAt, now)}`;
  // Where and when on one line, the sign-in date on the next: they wrap as whole lines on a phone.
  const facts = [
    s.ip ? `<span class="ip">${escapeHtml(s.ip)}</span>` : "",
    `<span class="seen">${timeTag(s.current ? now : s.lastSeenAt, active)}</span>`,
  ].filter(Boolean);
  const signedIn = `<span class="signed-in">Signed in ${timeTag(s.signInAt, day(s.signInAt))}</span>`;
  const app = [s.applicationName || "unknown", s.appVersion].filter(Boolean).join(" ");
  const details = [
    ["Platform", [PLATFORM_LABELS[s.clientPlatform], s.device].filter(Boolean).join(", ")],
    ["Application", app],
    ["Expires", null],
    ["User agent", s.userAgent ?? "none sent"],
  ] as const;
  const action = s.current
    ? ""
    : `<div class="actions">${confirmForm({
        id: `revoke-${s.sessionId}`,
        action: `/sessions/${encodeURIComponent(s.sessionId)}/revoke`,
        open: "Sign out",
        question: `Sign out ${label}? It will need to sign in again.`,
        confirm: "Sign out",
      })}</div>`;
  return `    <li data-session-id="${escapeHtml(s.sessionId)}" data-platform="${escapeHtml(s.clientPlatform)}" data-current="${s.current}"${s.current ? ' class="current"' : ""}>
      ${icon(s.deviceType)}
      <div class="device">
        <p class="label">${escapeHtml(label)}${s.current ? ' <span class="badge">This device</span>' : ""}</p>
        <p class="facts">${facts.join("")}</p>
        <p class="facts">${signedIn}</p>
        <details class="more"><summary>Details</summary>
          <dl>${details
            .map(([name, value]) => `<dt>${name}</dt><dd>${value === null ? timeTag(s.expiresAt, day(s.expiresAt)) : escapeHtml(value)}</dd>`)
            .join("")}</dl>
        </details>
      </div>
      ${action}
    </li>`;
}

/** A button that asks first: the disclosure opens a box whose form does the POST. */
function confirmForm(options: { id: string; action: string; open: string; question: string; confirm: string }): string {
  return `<details class="confirm" id="${escapeHtml(options.id)}">
        <summary class="button danger"><span class="when-closed">${escapeHtml(options.open)}</span><span class="when-open">Cancel</span></summary>
        <div class="confirm-box" role="group">
          <p>${escapeHtml(options.question)}</p>
          <form method="post" action="${escapeHtml(options.action)}"><button type="submit" class="danger solid">${escapeHtml(options.confirm)}</button></form>
        </div>
      </details>`;
}
