import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { countRoundTrips } from "../support/round-trips.js";

const namespace = `t-${randomUUID()}`;
let client: Redis;

beforeAll(async () => {
  client = new Redis(inject("redisUrl"));
  await client.ping();
});

afterAll(async () => {
  await client.quit();
});

describe("countRoundTrips", () => {
  it("counts two awaited GETs as 2 round trips", async () => {
    const counter = countRoundTrips(client);
    try {
      await client.get(`${namespace}:a`);
      await client.get(`${namespace}:b`);
      expect(counter.commands).toEqual(["get", "get"]);
      expect(counter.roundTrips).toBe(2);
    } finally {
      counter.restore();
    }
  });

  it("counts GETs sent together (Promise.all) as 1 round trip", async () => {
    const counter = countRoundTrips(client);
    try {
      await Promise.all([client.get(`${namespace}:a`), client.get(`${namespace}:b`)]);
      expect(counter.commands).toEqual(["get", "get"]);
      expect(counter.roundTrips).toBe(1);
    } finally {
      counter.restore();
    }
  });

  it("starts from zero after reset() and stops counting after restore()", async () => {
    const counter = countRoundTrips(client);
    await client.get(`${namespace}:a`);
    counter.reset();
    expect(counter.roundTrips).toBe(0);
    expect(counter.commands).toEqual([]);
    counter.restore();
    await client.get(`${namespace}:a`);
    expect(counter.roundTrips).toBe(0);
    expect(Object.prototype.hasOwnProperty.call(client, "sendCommand")).toBe(false);
  });
});
