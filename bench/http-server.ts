/**
 * One end-to-end contender in its own process: the bench app on 127.0.0.1, a free port.
 * Tells the parent its port, answers "cpu" with this process's CPU time (the server's, not
 * the load generator's), and on "stop" — or when the parent goes away — closes and exits.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { httpServerConfigSchema } from "./options.js";
import { httpParentMessageSchema, tellParent } from "./protocol.js";
import { createBenchApp } from "./http-app.js";

const config = httpServerConfigSchema.parse(JSON.parse(process.argv[2] ?? "null"));

async function main(): Promise<void> {
  const bench = await createBenchApp(config.contender, config.url, config.namespace, config.libRoot);
  const server = bench.app.listen(0, "127.0.0.1");
  await once(server, "listening");

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    await bench
      .close()
      .catch((error: unknown) =>
        console.error(`http server (${config.contender}): close failed: ${String(error)}`),
      );
    process.exit(code);
  };
  process.on("disconnect", () => void stop(0));
  process.on("message", (raw: unknown) => {
    const message = httpParentMessageSchema.safeParse(raw);
    if (!message.success) return;
    if (message.data.type === "stop") return void stop(0);
    const cpu = process.cpuUsage();
    tellParent({ type: "cpu", us: cpu.user + cpu.system });
  });
  tellParent({ type: "listening", port: (server.address() as AddressInfo).port });
}

main().catch((error: unknown) => {
  console.error(`http server (${config.contender}) failed:`, error);
  process.exit(1);
});
