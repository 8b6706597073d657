/**
 * `npx tsx bench/decode.ts`: the cost of decoding one stored session (~1 KB of JSON) with
 * the serializer the store uses, in µs per decode. No Redis: only `parse`.
 *
 *   --iterations N  decodes per measurement (default 200000)
 *   --repeats R     measurements; the median is reported (default 7)
 *
 * Rows: the JSON reader and the legacy (connect-redis format) reader on a plain session, on
 * one whose text holds a `\u` escape (the slower, safe path), and `JSON.parse` alone as the
 * floor. Figures only; nothing is asserted.
 */
import { parseArgs } from "node:util";
import { legacySerializer, resolveSerializer, type Serializer } from "../src/serializer.js";

const { values } = parseArgs({
  options: { iterations: { type: "string", default: "200000" }, repeats: { type: "string", default: "7" } },
});
const iterations = Number(values.iterations);
const repeats = Number(values.repeats);

/** A signed-in session as the store writes it, about 1 KB. */
function sessionText(extra: Record<string, unknown> = {}): string {
  const session = {
    cookie: { originalMaxAge: 1_209_600_000, expires: new Date(Date.UTC(2026, 0, 1)).toISOString(), secure: true, httpOnly: true, path: "/", sameSite: "lax" },
    userId: "user-123456",
    csrfToken: "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0",
    cart: Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${1000 + i}`, quantity: i + 1, price: 19.99 + i, title: `Item number ${i}` })),
    preferences: { theme: "dark", language: "en-GB", timezone: "Europe/London", notifications: { email: true, sms: false } },
    flash: [],
    __rels: { u: "user-123456", a: "Turtle", p: "web", ip: "203.0.113.7", ua: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" },
    ...extra,
  };
  return JSON.stringify(session);
}

const plain = Buffer.from(sessionText(), "utf8");
const escaped = Buffer.from(sessionText({ note: "tab\there" }).replace("tab\\there", "tab\\u0009here"), "utf8");

function measure(parse: (raw: Buffer) => unknown, raw: Buffer): number {
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) parse(raw);
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

const json: Serializer = resolveSerializer(undefined);
const legacy: Serializer = legacySerializer(undefined);
const rows: Array<[string, (raw: Buffer) => unknown, Buffer]> = [
  ["JSON.parse alone (floor)", (raw) => JSON.parse(raw.toString("utf8")), plain],
  ["json reader, plain session", (raw) => json.parse(raw), plain],
  ["legacy reader, plain session", (raw) => legacy.parse(raw), plain],
  ["json reader, text with a \\u escape", (raw) => json.parse(raw), escaped],
  ["legacy reader, text with a \\u escape", (raw) => legacy.parse(raw), escaped],
];

console.log(`decode of a ${plain.length}-byte session; median of ${repeats} × ${iterations} decodes, node ${process.version}`);
for (const [name, parse, raw] of rows) {
  for (let i = 0; i < 20_000; i++) parse(raw); // warm-up: let the JIT settle first
  console.log(`${name.padEnd(40)} ${measure(parse, raw).toFixed(2)} µs`);
}
