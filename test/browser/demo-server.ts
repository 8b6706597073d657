/**
 * The demo app on a loopback port for a browser test, and its end: for the browser tests
 * that start their own demo (test/browser/account.test.ts does the same inline).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { RequestListener } from "node:http";

export interface ServedDemo {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** Cut every connection (browsers keep them open) and stop listening. */
  close(): Promise<void>;
}

export async function serveDemo(app: RequestListener): Promise<ServedDemo> {
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      if (!server.listening) return;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
