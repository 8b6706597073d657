import { Cluster, type Redis } from "ioredis";

/**
 * Coalesce every command of one event-loop turn into one socket write per connection.
 *
 * ioredis writes each command to the socket as it is sent: one syscall per command on our
 * side and one read per command on Redis's. Corking the socket on the first command and
 * uncorking it in `setImmediate` (the check phase of this turn, after every I/O callback of
 * the poll phase has run) sends together what every request handled in this turn asked for,
 * as node-redis does: Redis reads and answers them as a pipeline.
 *
 * Per turn rather than per tick: each HTTP request is a macrotask of its own, so a
 * `process.nextTick` uncork merges nothing across requests (bench/README.md, "Figures behind
 * choices in the code", has the measurement). The wait is at most the rest of the turn's I/O
 * callbacks.
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
  setImmediate(() => {
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
