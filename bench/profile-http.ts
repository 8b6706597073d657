/**
 * Profile one HTTP server child: the bench app for one contender, started with
 * `node --cpu-prof`, signed in and loaded from this process as `npm run bench` does, then
 * stopped so that Node writes the profile. Only the server is profiled, not the load.
 *
 *   node --import tsx bench/profile-http.ts '{"url":"redis://127.0.0.1:PORT","contender":"rels","workload":"tracked","profileDir":"/tmp/prof-http"}'
 *
 * Optional: "seconds" (measured load, default 8), "warmupSeconds" (default 4),
 * "connections" (default 50). Prints the requests per second of the profiled load; the
 * profile also holds the warm-up and the sign-ins.
 */
import { z } from "zod";
import { httpContenderSchema, httpWorkloadSchema, type HttpServerConfig } from "./options.js";
import { httpServerMessageSchema } from "./protocol.js";
import { BenchChildError, Child } from "./children.js";
import { load, signIn } from "./http-load.js";
import { REQUEST } from "./http-rounds.js";

const configSchema = z.object({
  url: z.string(),
  contender: httpContenderSchema,
  workload: httpWorkloadSchema,
  profileDir: z.string().min(1),
  seconds: z.number().positive().default(8),
  warmupSeconds: z.number().positive().default(4),
  connections: z.number().int().positive().default(50),
});

async function main(): Promise<void> {
  const config = configSchema.parse(JSON.parse(process.argv[2] ?? "null"));
  const server: HttpServerConfig = {
    url: config.url,
    contender: config.contender,
    namespace: `bench:profile:${Date.now()}`,
  };
  const child = new Child(
    `http server ${config.contender}`,
    "http-server.ts",
    server,
    httpServerMessageSchema,
    ["--cpu-prof", `--cpu-prof-dir=${config.profileDir}`],
  );
  try {
    const listening = await child.next(60_000, "listening port");
    if (listening.type !== "listening")
      throw new BenchChildError(`expected the server's port, got ${JSON.stringify(listening)}`);
    const base = `http://127.0.0.1:${listening.port}`;
    const { method, path, record } = REQUEST[config.workload];
    const users = Array.from({ length: config.connections }, (_, i) => `profile-${i}`);
    const cookies = await signIn(base, users, record);
    await load(base, method, path, cookies, config.warmupSeconds);
    const result = await load(base, method, path, cookies, config.seconds);
    console.log(
      `${config.contender} ${method} ${path}: ${Math.round(result.requests / result.seconds)} req/s over ${result.seconds.toFixed(1)} s`,
    );
    // A clean exit is what makes Node write the profile.
    child.send({ type: "stop" });
    const code = await child.finish(15_000);
    if (code !== 0) throw new BenchChildError(`the server exited with ${String(code)}`);
    console.log(`profile written to ${config.profileDir}`);
  } finally {
    await child.finish(1);
  }
}

main().catch((error: unknown) => {
  console.error("profile-http failed:", error);
  process.exit(1);
});
