import type { Cluster } from "ioredis";

/**
 * Calls `onChange` when a Cluster client's view of its masters changes after it first had one:
 * ioredis refreshes its slot map ("refresh") once a failover has promoted a replica, or a
 * reshard moved slots to a new master. Returns the call that stops watching.
 */
export function watchMasters(client: Cluster, onChange: () => void): () => void {
  let known = "";
  const onRefresh = () => {
    const masters = client
      .nodes("master")
      .map((node) => `${node.options.host}:${node.options.port}`)
      .sort()
      .join(",");
    if (masters === "" || masters === known) return;
    const first = known === "";
    known = masters;
    if (!first) onChange();
  };
  client.on("refresh", onRefresh);
  return () => client.off("refresh", onRefresh);
}
