/** A Redis Cluster on loopback (redis-cli --cluster create), its readiness and CLUSTER FAILOVER. */
import {
  addr,
  firstAnswer,
  parseAddr,
  parseInfo,
  reachable,
  redisCall,
  replicationProblem,
  endpointOf,
} from "./client.js";
import { runRedisCli } from "./processes.js";
import { disposeAll, spawnAll, spawnServer } from "./spawn.js";
import type { RedisClusterHandle, RedisEndpoint } from "./types.js";
import { logTails, waitUntil } from "./wait.js";

/** `masters` (≥3, default 3) masters with `replicasPerMaster` (default 1) replicas each, created with redis-cli --cluster create. */
export async function startRedisCluster(
  options: { masters?: number; replicasPerMaster?: number } = {},
): Promise<RedisClusterHandle> {
  const masterCount = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  if (masterCount < 3)
    throw new Error("startRedisCluster: redis-cli --cluster create needs at least 3 masters");

  const servers = await spawnAll(masterCount * (1 + replicasPerMaster), () =>
    spawnServer({
      label: "cluster",
      needsBusPort: true,
      args: [],
      conf: [
        "cluster-enabled yes",
        "cluster-config-file nodes.conf", // relative to the node's own dir
        // Low enough that a crash test (kill() a master) sees an automatic failover within seconds,
        // high enough that a busy 2-core CI box does not flag healthy nodes as failing.
        "cluster-node-timeout 3000",
      ],
    }),
  );
  const nodes = servers.map(endpointOf);
  const diagnostics = () => logTails(servers, 8);
  try {
    await runRedisCli([
      "--cluster",
      "create",
      ...nodes.map(addr),
      "--cluster-replicas",
      String(replicasPerMaster),
      "--cluster-yes",
    ]);
    await waitUntil(
      "the cluster to be ready",
      async () => {
        const problem = await clusterProblem(nodes, nodes.length, masterCount);
        return problem === true ? topologyProblem(nodes, masterCount) : problem;
      },
      { timeoutMs: 60_000, diagnostics },
    );
  } catch (err) {
    await disposeAll(servers);
    throw err;
  }

  return {
    nodes,
    async masters() {
      const { view } = await clusterView(nodes);
      return servingMasters(view).map((n) => n.endpoint);
    },
    async failover(key) {
      const { via, view } = await clusterView(nodes);
      const slot = key === undefined ? undefined : Number(await redisCall(via, "CLUSTER", "KEYSLOT", key));
      const master =
        slot === undefined
          ? servingMasters(view)[0]
          : view.find((n) => n.flags.includes("master") && servesSlot(n, slot));
      if (!master)
        throw new Error(`failover: no master found${slot === undefined ? "" : ` for slot ${slot}`}`);
      const targetSlot = slot ?? master.slots[0]?.[0] ?? 0;
      const replica = view.find((n) => n.masterId === master.id && !n.flags.includes("fail"));
      if (!replica) throw new Error(`failover: ${addr(master.endpoint)} has no healthy replica`);

      // Nodes a crash test has killed would only make us wait for the deadline; check the live ones.
      const live = await reachable(nodes);
      // A plain manual failover needs the old master to cooperate; if it is already down, FORCE.
      const force = master.flags.includes("fail") ? ["FORCE"] : [];
      await redisCall(replica.endpoint, "CLUSTER", "FAILOVER", ...force);

      await waitUntil(
        `${addr(replica.endpoint)} to take over slot ${targetSlot} from ${addr(master.endpoint)}`,
        async () => {
          const role = await redisCall(replica.endpoint, "ROLE");
          if (!Array.isArray(role) || role[0] !== "master")
            return `${addr(replica.endpoint)} is still ${String(Array.isArray(role) ? role[0] : role)}`;
          for (const node of live) {
            const owner = parseClusterNodes(String(await redisCall(node, "CLUSTER", "NODES"))).find(
              (n) => isMaster(n) && servesSlot(n, targetSlot),
            );
            if (owner?.id !== replica.id)
              return `${addr(node)} still maps slot ${targetSlot} to ${owner ? addr(owner.endpoint) : "nobody"}`;
          }
          return clusterProblem(live, nodes.length, masterCount);
        },
        { timeoutMs: 30_000, diagnostics },
      );
    },
    async replicaOf(endpoint) {
      const { view } = await clusterView(nodes);
      const master = view.find((n) => n.endpoint.port === endpoint.port && n.endpoint.host === endpoint.host);
      const replica = view.find((n) => master && n.masterId === master.id && !n.flags.includes("fail"));
      if (!replica) throw new Error(`replicaOf: ${addr(endpoint)} has no healthy replica`);
      return replica.endpoint;
    },
    async freeze(endpoint) {
      const pid = Number(parseInfo(String(await redisCall(endpoint, "INFO", "server"))).get("process_id"));
      if (!Number.isInteger(pid) || pid <= 0) throw new Error(`freeze: no process_id from ${addr(endpoint)}`);
      process.kill(pid, "SIGSTOP");
      return () => process.kill(pid, "SIGCONT");
    },
    async kill(endpoint) {
      const server = servers.find((s) => s.port === endpoint.port && s.host === endpoint.host);
      if (!server) throw new Error(`kill: ${addr(endpoint)} is not a node of this cluster`);
      await server.kill();
    },
    async recovered(timeoutMs = 30_000) {
      await waitUntil(
        "the cluster to serve every slot again",
        async () => {
          const live = await reachable(nodes);
          for (const node of live) {
            const info = parseInfo(String(await redisCall(node, "CLUSTER", "INFO")));
            if (info.get("cluster_state") !== "ok")
              return `${addr(node)} cluster_state=${String(info.get("cluster_state"))}`;
            const serving = servingMasters(
              parseClusterNodes(String(await redisCall(node, "CLUSTER", "NODES"))),
            );
            if (serving.length !== masterCount) return `${addr(node)} sees ${serving.length} serving masters`;
            const gone = serving.find(
              (m) => !live.some((n) => n.port === m.endpoint.port && n.host === m.endpoint.host),
            );
            if (gone) return `${addr(node)} still sees ${addr(gone.endpoint)}, which is down, serving slots`;
          }
          return true;
        },
        { timeoutMs, diagnostics },
      );
    },
    dispose: () => disposeAll(servers),
  };
}

interface ClusterNode {
  id: string;
  endpoint: RedisEndpoint;
  flags: string[];
  /** for replicas: the id of their master */
  masterId: string | undefined;
  slots: Array<[number, number]>;
}

/** CLUSTER NODES: `<id> <ip:port@cport[,hostname]> <flags> <master|-> <ping> <pong> <epoch> <link> <slot>…` */
function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [id = "", address = "", flags = "", master = "-", , , , , ...slotFields] = line.trim().split(" ");
      const slots = slotFields
        .filter((f) => !f.startsWith("[")) // "[slot->-id]" = slot being migrated
        .map((f): [number, number] => {
          const [from = "", to = from] = f.split("-");
          return [Number(from), Number(to)];
        });
      return {
        id,
        endpoint: parseAddr(address.split("@")[0] ?? ""),
        flags: flags.split(","),
        masterId: master === "-" ? undefined : master,
        slots,
      };
    });
}

const isMaster = (n: ClusterNode) => n.flags.includes("master") && !n.flags.includes("fail");
const servesSlot = (n: ClusterNode, slot: number) => n.slots.some(([from, to]) => slot >= from && slot <= to);

function servingMasters(view: ClusterNode[]): ClusterNode[] {
  return view
    .filter((n) => isMaster(n) && n.slots.length > 0)
    .sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0));
}

async function clusterView(nodes: RedisEndpoint[]): Promise<{ via: RedisEndpoint; view: ClusterNode[] }> {
  return firstAnswer(nodes, async (via) => ({
    via,
    view: parseClusterNodes(String(await redisCall(via, "CLUSTER", "NODES"))),
  }));
}

/** true when every asked node sees a healthy, complete cluster and every replica is in sync; else why not. */
async function clusterProblem(
  ask: RedisEndpoint[],
  totalNodes: number,
  masters: number,
): Promise<true | string> {
  for (const node of ask) {
    const info = parseInfo(String(await redisCall(node, "CLUSTER", "INFO")));
    const expected: Record<string, string> = {
      cluster_state: "ok",
      cluster_slots_assigned: "16384",
      cluster_known_nodes: String(totalNodes),
      cluster_size: String(masters),
    };
    for (const [field, value] of Object.entries(expected)) {
      if (info.get(field) !== value)
        return `${addr(node)} ${field}=${String(info.get(field))}, want ${value}`;
    }
    const problem = replicationProblem(node, parseInfo(String(await redisCall(node, "INFO", "replication"))));
    if (problem) return problem;
  }
  return true;
}

/**
 * true when every node's CLUSTER NODES shows `masters` serving masters and every other node as a
 * replica of one of them. cluster_state:ok alone is not enough: a node learns that a peer became a
 * replica through gossip, a little after the replica itself reports being in sync.
 */
async function topologyProblem(nodes: RedisEndpoint[], masters: number): Promise<true | string> {
  for (const node of nodes) {
    const view = parseClusterNodes(String(await redisCall(node, "CLUSTER", "NODES")));
    const serving = servingMasters(view);
    if (serving.length !== masters) return `${addr(node)} sees ${serving.length} serving masters`;
    const servingIds = new Set(serving.map((n) => n.id));
    const orphan = view.find(
      (n) => !servingIds.has(n.id) && !(n.flags.includes("slave") && servingIds.has(n.masterId ?? "")),
    );
    if (orphan)
      return `${addr(node)} does not see ${addr(orphan.endpoint)} as a replica yet (${orphan.flags.join(",")})`;
  }
  return true;
}
