/**
 * The messages between bench/run.ts and its children, over Node's IPC channel.
 *
 * The parent reads Redis's CPU (INFO cpu) itself, so a store child tells it when a
 * measurement is about to start ("ready", then waits for "go") and when it ended ("result").
 * An HTTP server child answers "cpu" with its own process CPU, so the CPU of the process
 * doing the work is what is reported, not the load generator's.
 */
import { z } from "zod";
import { storeWorkloadSchema } from "./options.js";

export const storeChildMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), workload: storeWorkloadSchema }),
  z.object({
    type: z.literal("result"),
    workload: storeWorkloadSchema,
    ops: z.number(),
    seconds: z.number(),
    /** process.cpuUsage() user + system over the measurement, µs. */
    cpuUs: z.number(),
  }),
]);
export type StoreChildMessage = z.infer<typeof storeChildMessageSchema>;

export const storeParentMessageSchema = z.object({ type: z.literal("go") });
export type StoreParentMessage = z.infer<typeof storeParentMessageSchema>;

export const httpServerMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("listening"), port: z.number().int() }),
  z.object({ type: z.literal("cpu"), us: z.number() }),
]);
export type HttpServerMessage = z.infer<typeof httpServerMessageSchema>;

export const httpParentMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("cpu") }),
  z.object({ type: z.literal("stop") }),
]);
export type HttpParentMessage = z.infer<typeof httpParentMessageSchema>;

/** Send to the parent; a child started without IPC (by hand, for --cpu-prof) prints instead. */
export function tellParent(message: StoreChildMessage | HttpServerMessage): void {
  if (process.send) process.send(message);
  else console.log(JSON.stringify(message));
}

/** The next message from the parent that `schema` accepts; immediately "go" without IPC. */
export function fromParent<T>(schema: z.ZodType<T>, standalone: T): Promise<T> {
  if (!process.send) return Promise.resolve(standalone);
  return new Promise((resolve) => {
    const onMessage = (raw: unknown) => {
      const parsed = schema.safeParse(raw);
      if (!parsed.success) return;
      process.off("message", onMessage);
      resolve(parsed.data);
    };
    process.on("message", onMessage);
  });
}
