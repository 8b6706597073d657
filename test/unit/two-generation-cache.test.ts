import { describe, expect, it } from "vitest";
import { TwoGenerationCache } from "../../src/two-generation-cache.js";

describe("TwoGenerationCache", () => {
  it("always finds the last `size` entries set, and holds at most twice as many", () => {
    const map = new TwoGenerationCache<number, string>(4);
    for (let i = 0; i < 20; i++) {
      map.set(i, `v${i}`);
      for (let back = 0; back < 4 && back <= i; back++) expect(map.get(i - back)).toBe(`v${i - back}`);
    }
    const held = Array.from({ length: 20 }, (_, i) => map.get(i)).filter((v) => v !== undefined);
    expect(held.length).toBeLessThanOrEqual(8);
    expect(map.get(0)).toBeUndefined();
  });

  it("keeps an entry set again as long as a new one, and forgets a deleted one in either generation", () => {
    const map = new TwoGenerationCache<string, number>(3);
    map.set("old", 1);
    map.set("a", 2);
    map.set("b", 3); // the newer generation fills: "old", "a", "b" become the older one
    map.set("old", 4); // set again: now in the newer generation
    map.set("c", 5);
    map.set("d", 6); // fills again: the first generation is dropped
    expect(map.get("a")).toBeUndefined();
    expect(map.get("old")).toBe(4);
    map.delete("old");
    map.delete("d");
    expect(map.get("old")).toBeUndefined();
    expect(map.get("d")).toBeUndefined();
    expect(map.get("c")).toBe(5);
  });

  it("forgets every entry of both generations on clear, and fills again afterwards", () => {
    const map = new TwoGenerationCache<string, number>(2);
    map.set("a", 1);
    map.set("b", 2); // "a", "b" become the older generation
    map.set("c", 3);
    map.clear();
    for (const key of ["a", "b", "c"]) expect(map.get(key)).toBeUndefined();
    map.set("a", 4);
    expect(map.get("a")).toBe(4);
  });
});
