import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { checkLinearizable } from "../sim/linearizability/checker.js";
import type { HistoryOp, KvOp } from "../sim/linearizability/checker.js";
import { etcdctl, TestCluster } from "../compat/cluster.js";

/**
 * Crash test: clients write and read through every member while the leader and
 * a follower are killed with SIGKILL at random moments and restarted. The
 * recorded history must be linearizable, every acknowledged write must be
 * there afterwards, and all members must end with the same KV hash.
 */
const clientsCount = 6;
const keys = ["a", "b", "c", "d"];
const runMs = 15_000;

let cluster: TestCluster;

function leaderIndex(): number | undefined {
  for (let i = 0; i < cluster.members.length; i++) {
    const m = cluster.member(i);
    if (m.child === undefined) continue;
    const r = etcdctl([`127.0.0.1:${m.clientPort}`], ["endpoint", "status", "-w", "json", "--command-timeout=2s"]);
    if (r.status !== 0) continue;
    const [status] = JSON.parse(r.stdout) as { Status: { leader: string | number; header: { member_id: string | number } } }[];
    if (status !== undefined && String(status.Status.leader) === String(status.Status.header.member_id)) return i;
  }
  return undefined;
}

async function nemesis(until: number, log: string[]): Promise<void> {
  while (Date.now() < until) {
    await sleep(800 + Math.random() * 1200);
    const leader = leaderIndex();
    const victims = new Set<number>();
    if (leader !== undefined) victims.add(leader);
    // And sometimes a follower too (never all three at once: a majority stays reachable soon).
    if (Math.random() < 0.5) victims.add(Math.floor(Math.random() * cluster.members.length));
    for (const v of victims) {
      log.push(`kill m${v + 1}${v === leader ? " (leader)" : ""}`);
      await cluster.kill(v, "SIGKILL");
    }
    await sleep(300 + Math.random() * 1200);
    for (const v of victims) {
      cluster.spawn(v);
      log.push(`restart m${v + 1}`);
    }
  }
}

async function client(id: number, until: number, history: HistoryOp[], nextId: () => number): Promise<void> {
  const etcd = new Etcd3({
    hosts: cluster.endpoints().map((e) => `http://${e}`),
    faultHandling: { global: noop, host: () => noop },
  });
  let n = 0;
  try {
    while (Date.now() < until) {
      const key = keys[Math.floor(Math.random() * keys.length)] ?? "a";
      const value = `c${id}-${n++}`;
      const roll = Math.random();
      const op: KvOp =
        roll < 0.4 ? { kind: "put", key, value } : roll < 0.75 ? { kind: "get", key } : roll < 0.92 ? { kind: "cas", key, expected: null, value } : { kind: "delete", key };
      if (op.kind === "cas") {
        // Compare against a value read just before, so swaps sometimes succeed.
        const seen = await etcd.get(key).string().catch(() => null);
        Object.assign(op, { expected: seen });
      }
      const invokeTime = performance.now();
      try {
        const output = await perform(etcd, op);
        history.push({ id: nextId(), client: id, op, invokeTime, completeTime: performance.now(), output });
      } catch {
        // A failed write may still have been applied: record it as indeterminate. A failed read had no effect.
        if (op.kind !== "get") history.push({ id: nextId(), client: id, op, invokeTime });
        await sleep(50);
      }
    }
  } finally {
    etcd.close();
  }
}

async function perform(etcd: Etcd3, op: KvOp): Promise<string | null | boolean> {
  const timeout = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([p, sleep(3000).then(() => Promise.reject(new Error("client timeout")))]);
  switch (op.kind) {
    case "put":
      await timeout(etcd.put(op.key).value(op.value).exec());
      return null;
    case "get":
      return timeout(etcd.get(op.key).string());
    case "delete":
      await timeout(etcd.delete().key(op.key).exec());
      return null;
    case "cas": {
      const cmp = op.expected === null ? etcd.if(op.key, "Version", "==", 0) : etcd.if(op.key, "Value", "==", op.expected);
      const r = await timeout(cmp.then(etcd.put(op.key).value(op.value)).commit());
      return r.succeeded;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** crashScenario registers the crash test against a cluster running `engine`. */
export function crashScenario(engine: "raft" | "paxos"): void {
  before(async () => {
    cluster = await TestCluster.start({ consensus: engine });
  });
  after(async () => {
    await cluster.stop();
  });
  test(`${engine}: SIGKILLed leaders and followers lose nothing acknowledged and the history is linearizable`, { timeout: 120_000 }, run);
}

async function run(): Promise<void> {
  const history: HistoryOp[] = [];
  let ids = 0;
  const nextId = (): number => ids++;
  const until = Date.now() + runMs;
  const log: string[] = [];
  await Promise.all([nemesis(until, log), ...Array.from({ length: clientsCount }, (_, i) => client(i + 1, until, history, nextId))]);
  for (let i = 0; i < cluster.members.length; i++) if (cluster.member(i).child === undefined) cluster.spawn(i);
  await cluster.waitHealthy();

  // Final reads through a fresh client join the history: they must see every acknowledged write.
  const reader = new Etcd3({ hosts: cluster.endpoints().map((e) => `http://${e}`) });
  for (const key of keys) {
    const invokeTime = performance.now();
    const output = await reader.get(key).string();
    history.push({ id: nextId(), client: 0, op: { kind: "get", key }, invokeTime, completeTime: performance.now(), output });
  }
  reader.close();

  const completed = history.filter((h) => h.completeTime !== undefined).length;
  process.stderr.write(`crash test: ${completed} completed, ${history.length - completed} indeterminate, nemesis: ${log.join(", ")}\n`);
  const result = checkLinearizable(history, { stepBudget: 5_000_000 });
  assert.equal(result.verdict, "ok", `${JSON.stringify(result)}\nnemesis: ${log.join(", ")}`);
  assert.ok(completed > 100, `enough operations completed (${completed})`);
  assert.ok(log.some((l) => l.includes("(leader)")), `a leader was killed: ${log.join(", ")}`);

  // Every member catches up and ends with the same history hash.
  let hashes: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = etcdctl(cluster.endpoints(), ["endpoint", "hashkv"]);
    hashes = r.stdout.trim().split("\n").map((line) => line.split(", ")[1] ?? "");
    if (hashes.length === 3 && new Set(hashes).size === 1) break;
    await sleep(200);
  }
  assert.equal(new Set(hashes).size, 1, `members agree on the KV hash: ${hashes.join(" ")}`);
}
