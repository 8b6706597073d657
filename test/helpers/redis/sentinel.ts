/** 1 master + 1 replica + 3 sentinels on loopback, their readiness and SENTINEL FAILOVER. */
import {
  addr,
  endpointOf,
  firstAnswer,
  parseAddr,
  parseInfo,
  parsePairs,
  reachable,
  redisCall,
  replicationProblem,
  withClient,
} from "./client.js";
import { disposeAll, spawnAll, spawnServer } from "./spawn.js";
import { HOST, type RedisEndpoint, type RedisSentinelHandle, type SpawnedRedis } from "./types.js";
import { errorMessage, logTails, waitUntil } from "./wait.js";

/** 1 master + 1 replica + 3 sentinels (quorum 2, quick down-after / failover-timeout) on 127.0.0.1. */
export async function startRedisSentinel(): Promise<RedisSentinelHandle> {
  const name = "relsmaster";
  const servers: SpawnedRedis[] = []; // everything to dispose, sentinels first
  try {
    const master = await spawnServer({ label: "sentinel-master", conf: [], args: [] });
    servers.push(master);
    const replica = await spawnServer({
      label: "sentinel-replica",
      conf: [`replicaof ${HOST} ${master.port}`],
      args: [],
    });
    servers.push(replica);
    const sentinelServers = await spawnAll(3, () =>
      spawnServer({
        label: "sentinel",
        sentinel: true,
        args: [],
        conf: [
          `sentinel monitor ${name} ${HOST} ${master.port} 2`,
          // Quick, so crash tests see an automatic failover in ~2 s; still tolerant of a loaded box.
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
        ],
      }),
    );
    servers.unshift(...sentinelServers);
    const sentinels = sentinelServers.map(endpointOf);
    await waitUntil(
      "the sentinels to know the master, the replica and each other",
      () => sentinelProblem(sentinels, name, endpointOf(replica)),
      { timeoutMs: 60_000, diagnostics: () => logTails(servers, 8) },
    );

    const handle: RedisSentinelHandle = {
      name,
      sentinels,
      master: () => sentinelMaster(sentinels, name),
      async failover() {
        const before = await handle.master();
        // NOGOODSLAVE: no sentinel sees a replica fit to promote yet (on a loaded machine its
        // view of the replica lags after a restart or a previous failover). That is readiness,
        // reported by Sentinel itself: ask again until one takes the failover.
        await waitUntil(
          "a sentinel to accept SENTINEL FAILOVER (a replica fit to promote)",
          () =>
            firstAnswer(sentinels, (s) => redisCall(s, "SENTINEL", "FAILOVER", name)).then(
              () => true,
              (err: unknown) => {
                if (/NOGOODSLAVE/.test(errorMessage(err))) return errorMessage(err);
                throw err;
              },
            ),
          { timeoutMs: 30_000, diagnostics: () => logTails(servers, 8) },
        );
        await waitUntil(
          `sentinel failover away from ${addr(before)}`,
          async () => {
            // The sentinel that ran the failover knows first; the others learn it from hello messages (every 2 s).
            const seen = new Set<string>();
            for (const s of await reachable(sentinels)) seen.add(addr(await askMasterAddr(s, name)));
            const [now] = [...seen];
            if (seen.size !== 1 || now === undefined) return `sentinels disagree: ${[...seen].join(", ")}`;
            if (now === addr(before)) return `sentinels still report ${now}`;
            const role = await redisCall(parseAddr(now), "ROLE");
            return (Array.isArray(role) && role[0] === "master") || `${now} is not master yet`;
          },
          { timeoutMs: 30_000, diagnostics: () => logTails(servers, 8) },
        );
        await demoteOldMaster(before, await handle.master(), () => logTails(servers, 8));
      },
      dispose: () => disposeAll(servers),
    };
    return handle;
  } catch (err) {
    await disposeAll(servers);
    throw err;
  }
}

async function askMasterAddr(sentinel: RedisEndpoint, name: string): Promise<RedisEndpoint> {
  const reply = await redisCall(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name);
  if (!Array.isArray(reply) || reply.length !== 2)
    throw new Error(`${addr(sentinel)} does not know master ${name}`);
  return { host: String(reply[0]), port: Number(reply[1]) };
}

function sentinelMaster(sentinels: RedisEndpoint[], name: string): Promise<RedisEndpoint> {
  return firstAnswer(sentinels, (s) => askMasterAddr(s, name));
}

/**
 * Sentinel demotes a master it failed away from only ~10 s later (it waits four hello periods,
 * then for its next INFO). Until then both nodes accept writes, and clients still connected to the
 * old one write into the void. We send now exactly what Sentinel would send then, so failover()
 * leaves one master, and the old one as its in-sync replica (ready for the next failover).
 * Skipped when the old master is down (crash tests): Sentinel converts it when it comes back.
 */
async function demoteOldMaster(
  old: RedisEndpoint,
  current: RedisEndpoint,
  diagnostics: () => Promise<string>,
): Promise<void> {
  const role = await redisCall(old, "ROLE").catch(() => undefined);
  if (!Array.isArray(role) || role[0] !== "master") return;
  await withClient(old, (client) =>
    client
      .multi()
      .call("REPLICAOF", current.host, String(current.port))
      .call("CONFIG", "REWRITE")
      .call("CLIENT", "KILL", "TYPE", "normal") // SKIPME is the default: our own connection survives
      .call("CLIENT", "KILL", "TYPE", "pubsub")
      .exec(),
  );
  await waitUntil(
    `old master ${addr(old)} to sync from ${addr(current)}`,
    async () =>
      replicationProblem(old, parseInfo(String(await redisCall(old, "INFO", "replication")))) ?? true,
    { timeoutMs: 30_000, diagnostics },
  );
}

async function sentinelProblem(
  sentinels: RedisEndpoint[],
  name: string,
  replica: RedisEndpoint,
): Promise<true | string> {
  const problem = replicationProblem(
    replica,
    parseInfo(String(await redisCall(replica, "INFO", "replication"))),
  );
  if (problem) return problem;
  for (const sentinel of sentinels) {
    const master = parsePairs(await redisCall(sentinel, "SENTINEL", "MASTER", name));
    if (master.get("flags") !== "master")
      return `${addr(sentinel)} sees master flags=${String(master.get("flags"))}`;
    const others = Number(master.get("num-other-sentinels"));
    if (others < sentinels.length - 1) return `${addr(sentinel)} knows ${others} other sentinels`;
    const replicas = await redisCall(sentinel, "SENTINEL", "REPLICAS", name);
    const healthy = (Array.isArray(replicas) ? replicas : [])
      .map(parsePairs)
      .filter((r) => r.get("flags") === "slave" && r.get("master-link-status") === "ok");
    if (!healthy.some((r) => Number(r.get("port")) === replica.port))
      return `${addr(sentinel)} does not see the replica yet`;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------------
