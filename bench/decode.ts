/**
 * `npx tsx bench/decode.ts`: the cost of decoding one stored session (~1 KB of JSON) with
 * the serializer the store uses, in µs of CPU time per decode (CPU time, not wall time: on a
 * shared machine, time spent descheduled would drown the differences). No Redis: only `parse`.
 *
 *   --iterations N  decodes per measurement (default 200000)
 *   --repeats R     measurements; the median is reported (default 7)
 *
 * Rows: the JSON reader and the legacy (connect-redis format) reader on a plain session, on
 * one holding a control character (`\u0007`, as JSON.stringify writes it: still the fast
 * path), on one with an escaped letter (`\u0061`: the clean-up walk that drops escaped
 * prototype keys), and `JSON.parse` alone as the floor. Figures only; nothing is asserted.
 */
import { parseArgs } from "node:util";
import { legacySerializer, resolveSerializer, type Serializer } from "../src/record/codec/serializer.js";

const { values } = parseArgs({
  options: { iterations: { type: "string", default: "200000" }, repeats: { type: "string", default: "7" } },
});
const iterations = Number(values.iterations);
const repeats = Number(values.repeats);

/** A signed-in session as the store writes it, about 1 KB. */
function sessionText(extra: Record<string, unknown> = {}): string {
  const session = {
    cookie: {
      originalMaxAge: 1_209_600_000,
      expires: new Date(Date.UTC(2026, 0, 1)).toISOString(),
      secure: true,
      httpOnly: true,
      path: "/",
      sameSite: "lax",
    },
    userId: "user-123456",
    csrfToken: "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0",
    cart: Array.from({ length: 8 }, (_, i) => ({
      sku: `SKU-${1000 + i}`,
      quantity: i + 1,
      price: 19.99 + i,
      title: `Item number ${i}`,
    })),
    preferences: {
      theme: "dark",
      language: "en-GB",
      timezone: "Europe/London",
      notifications: { email: true, sms: false },
    },
    flash: [],
    __rels: {
      u: "user-123456",
      a: "Turtle",
      p: "web",
      ip: "203.0.113.7",
      ua: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    },
    ...extra,
  };
  return JSON.stringify(session);
}

const plain = Buffer.from(sessionText(), "utf8");
const control = Buffer.from(sessionText({ note: "bell\u0007here" }), "utf8");
const letter = Buffer.from(sessionText({ note: "plain" }).replace('"plain"', '"pl\\u0061in"'), "utf8");

function measure(parse: (raw: Buffer) => unknown, raw: Buffer): number {
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < iterations; i++) parse(raw);
    const used = process.cpuUsage(start);
    samples.push((used.user + used.system) / iterations);
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
  ["json reader, \\u0007 in a value", (raw) => json.parse(raw), control],
  ["legacy reader, \\u0007 in a value", (raw) => legacy.parse(raw), control],
  ["json reader, escaped letter \\u0061", (raw) => json.parse(raw), letter],
  ["legacy reader, escaped letter \\u0061", (raw) => legacy.parse(raw), letter],
];

if (!control.includes("\\u0007") || !letter.includes("\\u0061"))
  throw new Error("bench payloads lost their escapes");
console.log(
  `decode of a ${plain.length}-byte session; CPU µs, median of ${repeats} × ${iterations} decodes, node ${process.version}`,
);
for (const [name, parse, raw] of rows) {
  for (let i = 0; i < 20_000; i++) parse(raw); // warm-up: let the JIT settle first
  console.log(`${name.padEnd(40)} ${measure(parse, raw).toFixed(2)} µs`);
}
