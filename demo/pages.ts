/**
 * The demo's pages: the sign-in form and the "Your devices" page, modelled on GitHub's
 * sessions page and Google's "Your devices". Plain HTML and a little CSS; confirmation is a
 * `<details>` disclosure, so no script is needed (the CSP allows none).
 */
import { describeSession } from "../src/index.js";
import type { ActiveSession, ClientPlatform, DeviceType } from "../src/index.js";
import { escapeHtml, layout, relativeTime, timeTag } from "./html.js";
import { livePanel } from "./live.js";

/** Longest user name accepted. */
export const MAX_USERNAME_LENGTH = 64;

/**
 * A message for the next page, shown once: the account page's come from the session (a
 * one-time flash, see app.ts), the sign-in page's from the signed-in flag cookie. Never from
 * the URL, so a link or a reload cannot bring one back.
 */
export type Notice =
  | { key: "revoked"; device: string }
  | { key: "revoked-others"; count: number }
  | { key: "nothing-to-revoke" }
  | { key: "not-found" }
  | { key: "signed-out-elsewhere" };

/** What each notice says, in the words of someone managing their own account. */
export function noticeText(notice: Notice): string {
  switch (notice.key) {
    case "revoked":
      return `${notice.device} has been signed out. Anyone using it will have to sign in again.`;
    case "revoked-others":
      return notice.count === 1
        ? "Your other device has been signed out."
        : `Your ${notice.count} other devices have been signed out.`;
    case "nothing-to-revoke":
      return "There was no other device to sign out.";
    case "not-found":
      return "That device was already signed out.";
    case "signed-out-elsewhere":
      return "You were signed out from another device.";
  }
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
  unknown:
    '<circle cx="12" cy="12" r="9"/><path d="M9.5 9.5a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .8-1 1.5v.7"/><path d="M12 17h.01"/>',
};

function icon(deviceType: DeviceType | undefined): string {
  return `<div class="icon" aria-hidden="true"><svg viewBox="0 0 24 24">${ICON_PATHS[deviceType ?? "unknown"]}</svg></div>`;
}

function noticeBlock(notice: Notice | undefined): string {
  if (notice === undefined) return "";
  const warning = notice.key === "signed-out-elsewhere" ? " warning" : "";
  return `<p class="notice${warning}" role="status" id="notice" data-notice="${notice.key}">${escapeHtml(noticeText(notice))}</p>`;
}

export function signInPage(options: { error?: string; notice?: Notice; rememberMe?: boolean } = {}): string {
  // With lifetime profiles: "Remember me" picks the longer one (demo/sensitive.ts, DEMO_LIFETIMES).
  const rememberMe = options.rememberMe
    ? `<label class="check"><input type="checkbox" name="rememberMe" id="remember-me"> Remember me for 30 days</label>`
    : "";
  return layout(
    "Sign in to Turtle",
    `${noticeBlock(options.notice)}
  ${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ""}
  <form method="post" action="/login" id="sign-in" class="sign-in">
    <label>User name <input name="username" autocomplete="username" required maxlength="${MAX_USERNAME_LENGTH}" autofocus></label>
    ${rememberMe}
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

/** What the account page shows. */
export interface AccountView {
  userId: string;
  sessions: readonly ActiveSession[];
  /** Shown once, above the list. */
  notice?: Notice | undefined;
  now: Date;
  /** Approximate place of each IP address that has one (demo/location.ts). */
  places?: ReadonlyMap<string, string>;
}

export function accountPage(view: AccountView): string {
  const rows = ordered(view.sessions);
  const others = rows.filter((s) => !s.current).length;
  const signOutOthers =
    others > 0
      ? confirmForm({
          id: "revoke-others",
          action: "/sessions/revoke-others",
          open: "Sign out all other devices",
          question: `Sign out ${others === 1 ? "the other device" : `all ${others} other devices`}? ${others === 1 ? "It" : "They"} will need to sign in again.`,
          confirm: "Sign out all other devices",
        })
      : "";
  return layout(
    "Your devices",
    `<p class="lead">Signed in as <strong id="user">${escapeHtml(view.userId)}</strong>. These are the devices signed in to your account.</p>
  ${noticeBlock(view.notice)}
  ${livePanel()}
  <h2>${rows.length === 1 ? "1 device" : `${rows.length} devices`}</h2>
  <ul class="devices" id="sessions">
${rows.map((s) => deviceRow(s, view.now, (s.ip !== null && view.places?.get(s.ip)) || null)).join("\n")}
  </ul>
  <div class="page-actions">
    <form method="get" action="/account/data"><button type="submit" id="download-data">Download your data</button></form>
    ${signOutOthers}
    <form method="post" action="/logout"><button type="submit" id="logout">Sign out of this device</button></form>
  </div>`,
  );
}

/** A line of facts, `[class, html]` each (null: left out), separated by dots (see the stylesheet). */
function facts(items: readonly (readonly [string, string | null])[]): string {
  const shown = items
    .filter(([, html]) => html !== null)
    .map(([name, html]) => `<span class="${name}">${html}</span>`);
  return `<p class="facts"><span>${shown.join("")}</span></p>`;
}

/** Visible `text`, then `more` for screen readers only: "Sign out" reads "Sign out Safari on iPhone". */
function named(text: string, more: string): string {
  return `${escapeHtml(text)}<span class="visually-hidden"> ${escapeHtml(more)}</span>`;
}

function deviceRow(s: ActiveSession, now: Date, place: string | null): string {
  const label = describeSession(s);
  const lastSeen = s.current ? now : s.lastSeenAt;
  const active = s.current ? "Active now" : `Active ${relativeTime(s.lastSeenAt, now)}`;
  // Where and when on one line, the sign-in date on the next; each fact wraps as a whole.
  const whereAndWhen = facts([
    ["place", place === null ? null : escapeHtml(place)],
    ["ip", s.ip === null ? null : escapeHtml(s.ip)],
    ["seen", timeTag(lastSeen, "relative", active)],
  ]);
  // When it ends if it is used: its absolute deadline (a lifetime profile's), else its idle expiry.
  const endsAt = s.absoluteExpiresAt ?? s.expiresAt;
  const signedIn = facts([
    ["signed-in", `Signed in ${timeTag(s.signInAt, "day")}`],
    ["expires", `Expires on ${timeTag(endsAt, "day")}`],
  ]);
  const app = [s.applicationName || "unknown", s.appVersion].filter(Boolean).join(" ");
  // The exact times, in the viewer's time zone, for anyone who opens the details (no hover needed).
  const details: [string, string][] = [
    ["Last active", timeTag(lastSeen, "datetime")],
    ["Signed in", timeTag(s.signInAt, "datetime")],
    ["Expires if idle", timeTag(s.expiresAt, "datetime")],
    ["Expires at the latest", s.absoluteExpiresAt ? timeTag(s.absoluteExpiresAt, "datetime") : "no limit"],
    ["Platform", escapeHtml([PLATFORM_LABELS[s.clientPlatform], s.device].filter(Boolean).join(", "))],
    ["Application", escapeHtml(app)],
  ];
  const action = s.current
    ? ""
    : `<div class="actions">${confirmForm({
        id: `revoke-${s.sessionId}`,
        action: `/sessions/${encodeURIComponent(s.sessionId)}/revoke`,
        open: "Sign out",
        question: `Sign out ${label}? It will need to sign in again.`,
        confirm: "Sign out",
        device: label,
      })}</div>`;
  return `    <li data-session-id="${escapeHtml(s.sessionId)}" data-platform="${escapeHtml(s.clientPlatform)}" data-current="${s.current}"${s.current ? ' class="current"' : ""}>
      ${icon(s.deviceType)}
      <div class="device">
        <p class="label">${escapeHtml(label)}${s.current ? ' <span class="badge">This device</span>' : ""}</p>
        ${whereAndWhen}
        ${signedIn}
        <details class="more"><summary>${named("Details", `of ${label}`)}</summary>
          <dl>${details.map(([name, html]) => `<dt>${name}</dt><dd>${html}</dd>`).join("")}<dt>User agent</dt><dd class="raw">${escapeHtml(s.userAgent ?? "none sent")}</dd></dl>
        </details>
      </div>
      ${action}
    </li>`;
}

/**
 * A button that asks first: the disclosure opens a box whose form does the POST. With
 * `device`, both buttons name it for screen readers ("Sign out Safari on iPhone", "Cancel
 * signing out Safari on iPhone"), so a list of rows is not a list of identical buttons.
 */
function confirmForm(options: {
  id: string;
  action: string;
  open: string;
  question: string;
  confirm: string;
  device?: string;
}): string {
  const { device } = options;
  const open = device === undefined ? escapeHtml(options.open) : named(options.open, device);
  const cancel = device === undefined ? "Cancel" : named("Cancel", `signing out ${device}`);
  const confirm = device === undefined ? escapeHtml(options.confirm) : named(options.confirm, device);
  return `<details class="confirm" id="${escapeHtml(options.id)}">
        <summary class="button danger"><span class="when-closed">${open}</span><span class="when-open">${cancel}</span></summary>
        <div class="confirm-box" role="group">
          <p>${escapeHtml(options.question)}</p>
          <form method="post" action="${escapeHtml(options.action)}"><button type="submit" class="danger solid">${confirm}</button></form>
        </div>
      </details>`;
}
