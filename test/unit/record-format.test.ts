/** The stored record's layouts (record/format.ts): 3, and 4 with its metadata section. */
import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord, type RecordHeader } from "../../src/record/format.js";

const header: RecordHeader = {
  expiresAt: 1_700_000_000_000,
  score: 1_700_000_360_000,
  deadline: 0,
  index: "ns:user:{u1}",
  bucket: "ns:stats:{s}:live:T:web",
  plain: "",
};

describe("record layouts", () => {
  it("layout 3: header then payload, no metadata section", () => {
    const value = encodeRecord(header, '{"cookie":{}}') as string;
    expect(value.startsWith("3")).toBe(true);
    const record = decodeRecord(Buffer.from(value))!;
    expect(record).toMatchObject({ layout: 3, meta: undefined, header });
    expect(record.payload.toString()).toBe('{"cookie":{}}');
  });

  it("layout 4: header, metadata section, payload; an empty section is no metadata", () => {
    const meta = JSON.stringify({ userId: "u1", note: "a\nb" });
    const value = encodeRecord(header, '{"cookie":{}}', meta) as string;
    expect(value).toBe(
      `4${"1700000000000".padStart(16, "0")}${"1700000360000".padStart(16, "0")}${"0".repeat(16)}ns:user:{u1}\tns:stats:{s}:live:T:web\n${meta}\n{"cookie":{}}`,
    );
    const record = decodeRecord(Buffer.from(value))!;
    expect(record).toMatchObject({ layout: 4, meta, header });
    expect(record.payload.toString()).toBe('{"cookie":{}}');
    const none = decodeRecord(Buffer.from(encodeRecord(header, "{}", "") as string))!;
    expect(none).toMatchObject({ layout: 4, meta: "" });
    expect(none.payload.toString()).toBe("{}");
  });

  it("layout 4 holds the absolute deadline after the score; layout 3 cannot, and reads as none", () => {
    const withDeadline = { ...header, deadline: 1_700_000_500_000 };
    const value = encodeRecord(withDeadline, "{}", "") as string;
    expect(value.slice(33, 49)).toBe("1700000500000".padStart(16, "0"));
    expect(decodeRecord(Buffer.from(value))!.header).toEqual(withDeadline);
    const layout3 = encodeRecord(withDeadline, "{}") as string;
    expect(layout3.slice(33)).toBe("ns:user:{u1}\tns:stats:{s}:live:T:web\n{}");
    expect(decodeRecord(Buffer.from(layout3))!.header.deadline).toBe(0);
    // A deadline field that is not 16 digits is a corrupt record, not a session without one.
    expect(decodeRecord(Buffer.from(`${value.slice(0, 33)}x${value.slice(34)}`))).toBeUndefined();
  });

  it("layout 4 with a binary payload and a plain-sid link", () => {
    const payload = Buffer.from([0, 1, 10, 2]);
    const value = encodeRecord({ ...header, plain: "sess:abc" }, payload, '{"u":1}') as Buffer;
    const record = decodeRecord(value)!;
    expect(record.header.plain).toBe("sess:abc");
    expect(record.meta).toBe('{"u":1}');
    expect([...record.payload]).toEqual([0, 1, 10, 2]);
  });

  it("refuses a section with a raw newline, and reads a layout-4 record without its section's end as corrupt", () => {
    expect(() => encodeRecord(header, "{}", "a\nb")).toThrow(TypeError);
    const head = (encodeRecord(header, "", "") as string).slice(0, -2);
    expect(decodeRecord(Buffer.from(`${head}\n{"no":"end"}`))).toBeUndefined();
    expect(decodeRecord(Buffer.from(`5${head.slice(1)}\n\n{}`))).toBeUndefined();
  });
});
