/**
 * The demo's location hook (demo/location.ts): a table that knows only what it is given,
 * each address asked once, and a failing or oversized answer that leaves the page working.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { LOCAL_PLACES, locateFromTable, placesOf } from "../../demo/location.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("demo location hook", () => {
  it("answers from its table only, by exact address", async () => {
    const locate = locateFromTable(LOCAL_PLACES);
    expect(await locate("127.0.0.1")).toBe("Localhost");
    expect(await locate("::1")).toBe("Localhost");
    expect(await locate("127.0.0.2")).toBeUndefined();
    expect(await locate("toString")).toBeUndefined();
  });

  it("asks once per distinct address and skips unknown ones", async () => {
    const asked: string[] = [];
    const places = await placesOf(["192.0.2.1", null, "192.0.2.1", "198.51.100.2"], async (ip) => {
      asked.push(ip);
      return ip === "192.0.2.1" ? "  Lisbon, Portugal  " : null;
    });
    expect(asked.sort()).toEqual(["192.0.2.1", "198.51.100.2"]);
    expect([...places]).toEqual([["192.0.2.1", "Lisbon, Portugal"]]);
  });

  it("without a hook looks nothing up", async () => {
    expect((await placesOf(["192.0.2.1"], undefined)).size).toBe(0);
  });

  it("a hook that throws leaves that address without a place, and says so in the log", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const places = await placesOf(["192.0.2.1", "192.0.2.2"], (ip) => {
      if (ip === "192.0.2.1") throw new Error("database closed");
      return "Porto, Portugal";
    });
    expect([...places]).toEqual([["192.0.2.2", "Porto, Portugal"]]);
    expect(warn).toHaveBeenCalledWith("[demo] locate(192.0.2.1) failed: database closed");
  });

  it("caps a long answer by code point", async () => {
    const places = await placesOf(["192.0.2.1"], () => "🐢".repeat(200));
    expect([...(places.get("192.0.2.1") ?? "")]).toHaveLength(80);
  });
});
