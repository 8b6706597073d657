/**
 * One store-level contender in its own process: seeds its sessions, then for each workload
 * warms up, says "ready", waits for "go" (the parent reads Redis's CPU in between), runs
 * for a fixed time with `concurrency` callers and reports ops and its own CPU.
 *
 * Started by bench/run.ts. By hand (for `node --cpu-prof`), with no IPC channel, it runs
 * straight through and prints its results as JSON lines:
 *   node --cpu-prof --import tsx bench/store-child.ts '{"url":"redis://127.0.0.1:PORT","contender":"rels",…}'
 */
import { storeChildConfigSchema, type StoreWorkload } from "./options.js";
import { storeParentMessageSchema, fromParent, tellParent } from "./protocol.js";
import { openContender, type OpenContender } from "./store-contenders.js";
import { benchSession, newSids } from "./fixtures.js";

/** Each caller cycles over 10 sessions of its own, as in the tests' budgets. */
const SESSIONS_PER_CALLER = 10;
const SEED_CHUNK = 200;

const config = storeChildConfigSchema.parse(JSON.parse(process.argv[2] ?? "null"));
// The parent is gone (killed hard): nobody will read our figures, and nobody would stop us.
process.on("disconnect", () => process.exit(1));

/** `concurrency` callers looping over `sids` until `seconds` have passed; ops done and the elapsed seconds. */
async function drive(
  op: (sid: string) => Promise<void>,
  sids: readonly string[],
  seconds: number,
): Promise<{ ops: number; seconds: number }> {
  let next = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: config.concurrency }, async () => {
      while (performance.now() < deadline) await op(sids[next++ % sids.length]!);
    }),
  );
  return { ops: next, seconds: (performance.now() - started) / 1000 };
}

function operation(contender: OpenContender, workload: StoreWorkload): (sid: string) => Promise<void> {
  switch (workload) {
    case "get-set":
      return (sid) => contender.getSet(sid);
    case "get-touch":
      return (sid) => contender.getTouch(sid);
  }
}

async function main(): Promise<void> {
  const contender = await openContender(config.contender, config.url, config.namespace, config.libRoot);
  try {
    const sids = newSids(config.concurrency * SESSIONS_PER_CALLER);
    const session = benchSession(config.payload);
    for (let i = 0; i < sids.length; i += SEED_CHUNK) {
      await Promise.all(sids.slice(i, i + SEED_CHUNK).map((sid) => contender.seed(sid, session)));
    }
    for (const workload of config.workloads) {
      const op = operation(contender, workload);
      await drive(op, sids, config.warmupSeconds);
      tellParent({ type: "ready", workload });
      await fromParent(storeParentMessageSchema, { type: "go" });
      const cpuBefore = process.cpuUsage();
      const { ops, seconds } = await drive(op, sids, config.seconds);
      const cpu = process.cpuUsage(cpuBefore);
      tellParent({ type: "result", workload, ops, seconds, cpuUs: cpu.user + cpu.system });
    }
  } finally {
    await contender.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(
      `store child (${config.contender}${config.libRoot === undefined ? "" : ` from ${config.libRoot}`}) failed:`,
      error,
    );
    process.exit(1);
  },
);
