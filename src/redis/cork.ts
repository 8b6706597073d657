import { Cluster, type Redis } from "ioredis";

/**
 * Coalesce every command a tick sends into one socket write.
 *
 * ioredis writes each command to the socket as it is sent: at 100 concurrent requests that
 * is one syscall per command on our side and one read per command on Redis's, and it was
 * most of the CPU in `npm run bench`. Corking the socket on the first command of a tick and
 * uncorking on the next tick sends them together (what node-redis does), so Redis reads and
 * answers them as a pipeline. Latency is unchanged: the uncork runs before any I/O.
 */
const corked = new WeakSet<object>();

interface Corkable {
  cork(): void;
  uncork(): void;
}

function corkStream(stream: Corkable | undefined): void {
  if (!stream || corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  process.nextTick(() => {
    corked.delete(stream);
    stream.uncork();
  });
}

export function corkForThisTick(client: Redis | Cluster): void {
  if (client instanceof Cluster) {
    for (const node of client.nodes("master")) corkStream((node as unknown as { stream?: Corkable }).stream);
  } else {
    corkStream((client as unknown as { stream?: Corkable }).stream);
  }
}
