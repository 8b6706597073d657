/**
 * HTML plumbing of the demo: escaping, the page frame and its stylesheet, the one script
 * (times in the viewer's time zone) and the Content-Security-Policy that allows only it,
 * and how times read ("Active 3 minutes ago"; "5 Jan 2026, 14:03").
 */
import { createHash } from "node:crypto";
import { LIVE_PANEL_SCRIPT_SOURCE, LIVE_PANEL_STYLE } from "./live.js";

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text → HTML text or attribute value (quoted). User names and user agents come from the client. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

const RELATIVE = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const DATE_TIME_UTC = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});
const DAY_UTC = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeZone: "UTC" });

const UNITS: readonly [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 86_400_000],
  ["month", 30 * 86_400_000],
  ["week", 7 * 86_400_000],
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
];

/** "3 minutes ago", "yesterday", "just now": how people say when they last saw a device. */
export function relativeTime(date: Date, now: Date): string {
  const elapsed = now.getTime() - date.getTime();
  for (const [unit, ms] of UNITS) {
    if (Math.abs(elapsed) >= ms) return RELATIVE.format(-Math.round(elapsed / ms), unit);
  }
  return "just now";
}

/**
 * How a `<time>` reads once {@link LOCAL_TIMES_SCRIPT} has run: `datetime` is the date and
 * time, `day` the date only, in the browser's language and time zone; `relative` keeps its
 * text ("3 minutes ago" reads the same in every zone) and gets the exact time on hover.
 */
export type TimeFormat = "datetime" | "day" | "relative";

/**
 * A `<time>` for `date`. The server does not know the viewer's time zone, so without script
 * the text says UTC ("5 Jan 2026, 14:03 UTC"); the page's script rewrites it in the
 * browser's own language and zone. `relative` is given its text ("Active now").
 */
export function timeTag(date: Date, format: TimeFormat, relativeText = ""): string {
  const iso = date.toISOString();
  if (format === "relative") {
    return `<time datetime="${iso}" data-format="relative" title="${escapeHtml(`${DATE_TIME_UTC.format(date)} UTC`)}">${escapeHtml(relativeText)}</time>`;
  }
  const text = format === "day" ? DAY_UTC.format(date) : `${DATE_TIME_UTC.format(date)} UTC`;
  return `<time datetime="${iso}" data-format="${format}">${escapeHtml(text)}</time>`;
}

/**
 * The page's only script: every `<time data-format>` in the viewer's language and time zone.
 * Inline and allowed by its hash alone ({@link CONTENT_SECURITY_POLICY}); it reads only the
 * page's own `datetime` attributes and writes only text, so nothing a client sent can run.
 */
export const LOCAL_TIMES_SCRIPT = `
  (() => {
    const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
    for (const time of document.querySelectorAll("time[data-format]")) {
      const date = new Date(time.dateTime);
      if (Number.isNaN(date.getTime())) continue;
      const format = time.dataset.format;
      if (format === "datetime") time.textContent = exact.format(date);
      else if (format === "day") time.textContent = day.format(date);
      if (format !== "datetime") time.title = exact.format(date);
    }
  })();
`;

/**
 * Defence in depth should an escape ever be missed: no script runs but the one above and the
 * live panel's (live.ts), by their hashes; no form posts elsewhere; nothing loads from
 * anywhere, and the only connection a script may open is to this site (the panel's stream).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src 'sha256-${createHash("sha256").update(LOCAL_TIMES_SCRIPT).digest("base64")}' ${LIVE_PANEL_SCRIPT_SOURCE}`,
  "connect-src 'self'",
  "style-src 'unsafe-inline'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Mobile first: one column of cards that never needs horizontal scrolling at 320 px and up. */
const STYLE = `
    *, *::before, *::after { box-sizing: border-box; }
    html { -webkit-text-size-adjust: 100%; }
    body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
    main { max-width: 46rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
    h1 { font-size: 1.5rem; margin: .25rem 0 .25rem; }
    h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; color: #59636e; font-weight: 600; }
    p { margin: .5rem 0; }
    .lead { color: #59636e; margin-top: 0; }
    .notice, .error { border-radius: 8px; padding: .75rem 1rem; margin: 1rem 0; }
    .notice { background: #ddf4ff; border: 1px solid #54aeff66; }
    .error, .notice.warning { background: #fff8c5; border: 1px solid #d4a72c66; }
    .error { color: #6a2c00; }
    ul.devices { list-style: none; margin: 0; padding: 0; border: 1px solid #d1d9e0; border-radius: 8px; background: #fff; }
    ul.devices > li { padding: 1rem; border-top: 1px solid #d1d9e0; display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-start; }
    ul.devices > li:first-child { border-top: 0; }
    .device { flex: 1 1 15rem; min-width: 0; }
    .label { font-weight: 600; margin: 0; overflow-wrap: anywhere; }
    .badge { display: inline-block; font-size: .75rem; font-weight: 600; line-height: 1.5; padding: 0 .5rem; border-radius: 2em; background: #dafbe1; color: #116329; border: 1px solid #4ac26b66; vertical-align: .1em; margin-left: .25rem; white-space: nowrap; }
    .facts { color: #59636e; font-size: .875rem; margin: .125rem 0 0; overflow: hidden; }
    /* Facts wrap as wholes; each is led by a dot, and the dot of a fact that starts a line
       falls outside the paragraph, where overflow: hidden clips it. The dot is not read
       aloud (its alternative text is empty). */
    .facts > span { display: flex; flex-wrap: wrap; margin-left: -1rem; }
    .facts > span > span { position: relative; margin-left: 1rem; min-width: 0; overflow-wrap: anywhere; }
    .facts > span > span::before { content: "·"; content: "·" / ""; position: absolute; left: -1rem; width: 1rem; text-align: center; }
    .icon { flex: 0 0 2rem; width: 2rem; height: 2rem; color: #59636e; margin-top: .125rem; }
    .icon svg { width: 100%; height: 100%; fill: none; stroke: currentColor; stroke-width: 1.5; stroke-linecap: round; stroke-linejoin: round; }
    li.current .icon { color: #1a7f37; }
    details.more { font-size: .8125rem; color: #59636e; margin-top: .25rem; }
    details.more summary { cursor: pointer; width: max-content; }
    details.more dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .125rem .75rem; margin: .5rem 0 0; }
    details.more dt { font-weight: 600; }
    details.more dd { margin: 0; overflow-wrap: anywhere; }
    details.more dd.raw { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
    .actions { flex: 0 0 auto; margin-left: auto; }
    details.confirm > summary { list-style: none; }
    details.confirm > summary::-webkit-details-marker { display: none; }
    details.confirm:not([open]) .when-open, details.confirm[open] .when-closed { display: none; }
    details.confirm > .confirm-box { margin-top: .5rem; }
    .confirm-box { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: .75rem; max-width: 20rem; }
    .confirm-box p { margin: 0 0 .5rem; font-size: .875rem; }
    .confirm-box form { display: inline; }
    button, .button { font: inherit; font-size: .875rem; font-weight: 500; line-height: 1.25rem; padding: .3125rem 1rem; border-radius: 6px; border: 1px solid #d1d9e0; background: #f6f8fa; color: #1f2328; cursor: pointer; display: inline-block; white-space: nowrap; }
    button.danger, .button.danger { color: #d1242f; }
    button.danger.solid { color: #fff; background: #cf222e; border-color: #cf222e; }
    button.primary { color: #fff; background: #1f883d; border-color: #1f883d; }
    .page-actions { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; align-items: flex-start; }
    form.sign-in { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 1rem; display: grid; gap: .75rem; max-width: 22rem; }
    form.sign-in label { display: grid; gap: .25rem; font-weight: 600; font-size: .875rem; }
    form.sign-in label.check { display: flex; gap: .5rem; align-items: center; font-weight: 400; }
    label.check input { width: auto; margin: 0; }
    pre.data { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 1rem; overflow-x: auto; font-size: .8125rem; }
    input { font: inherit; padding: .375rem .75rem; border: 1px solid #d1d9e0; border-radius: 6px; width: 100%; }
    .hint { color: #59636e; font-size: .875rem; }
    a { color: #0969da; }
    .visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip-path: inset(50%); white-space: nowrap; border: 0; }
`;

export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)} · Turtle demo</title>
  <style>${STYLE}${LIVE_PANEL_STYLE}
  </style>
</head>
<body>
<main>
  <h1>${escapeHtml(title)}</h1>
  ${body}
</main>
<script>${LOCAL_TIMES_SCRIPT}</script>
</body>
</html>
`;
}
