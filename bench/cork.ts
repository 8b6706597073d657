/**
 * Per-tick corking for the "ioredis corked" baseline: the same idea as the library's own
 * corking (one socket write per tick per connection, as node-redis does), written here so
 * the baseline does not depend on the library's internals.
 *
 * Plain ioredis writes each command to the socket as it is sent: at 100 concurrent callers
 * that is one syscall per command here and one read per command in Redis. Corking on the
 * first command of a tick and uncorking on the next tick sends them in one write.
 */
import type { Redis } from "ioredis";

interface Corkable {
  cork(): void;
  uncork(): void;
}

/** Call before each command: corks the client's socket until the next tick, once per tick. */
export function corker(client: Redis): () => void {
  let corked = false;
  const uncork = () => {
    corked = false;
    socketOf(client)?.uncork();
  };
  return () => {
    if (corked) return;
    const socket = socketOf(client);
    if (!socket) return;
    corked = true;
    socket.cork();
    process.nextTick(uncork);
  };
}

function socketOf(client: Redis): Corkable | undefined {
  // ioredis does not type its connected stream; it is a net.Socket once connected.
  return (client as unknown as { stream?: Corkable }).stream;
}
