/**
 * Redis's own CPU time, from `INFO cpu` (used_cpu_user + used_cpu_sys, in seconds with µs
 * resolution). Read on the benchmark's private redis-server only, so every µs is the
 * contender's (plus the INFO calls themselves, a few µs per measurement).
 */
import type { Redis } from "ioredis";

export async function redisCpuUs(client: Redis): Promise<number> {
  const info = await client.info("cpu");
  const field = (name: string) => {
    const value = new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1];
    if (value === undefined) throw new Error(`INFO cpu has no ${name}`);
    return Number(value);
  };
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
}
