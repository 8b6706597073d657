/** Free ports on loopback: asked from the OS, never handed out twice by this process. */
import { createServer } from "node:net";
import { HOST } from "./types.js";

/** Ports given out by this process, so parallel spawns here never pick the same one. */
const portsHandedOut = new Set<number>();

export async function freePort(withBusPort: boolean): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await osFreePort();
    const wanted = withBusPort ? [port, port + 10_000] : [port];
    if (wanted.some((p) => p > 65_535 || portsHandedOut.has(p))) continue;
    if (withBusPort && !(await isPortFree(port + 10_000))) continue;
    for (const p of wanted) portsHandedOut.add(p);
    return port;
  }
  throw new Error(`could not find a free port on ${HOST}`);
}

function osFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------------
