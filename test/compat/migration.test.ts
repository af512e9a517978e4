/**
 * The migration test: a 3-member cluster holding 100k keys under continuous
 * writes from several clients has every original member replaced, one at a
 * time, the way an operator does it with etcdctl: add a learner, start it
 * with `--initial-cluster-state existing` (it receives the store as a chunked
 * snapshot, then the log), promote it once it is in sync, remove an original
 * member. Afterwards no acknowledged write is lost, the clients' history is
 * linearizable, and HashKV agrees on all members. The time of each
 * replacement and the peak memory of the snapshot's sender and receiver are
 * printed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { SynodClient } from "../../src/client/index.js";
import { compare, op } from "../../src/client/kv.js";
import { checkLinearizable } from "../sim/linearizability/checker.js";
import type { HistoryOp, KvOp } from "../sim/linearizability/checker.js";
import { etcdctl, TestCluster } from "./cluster.js";

const keysTotal = 100_000;
const valueBytes = 100;
/** putsPerTxn is etcd's default --max-txn-ops: the load goes in as full txns. */
const putsPerTxn = 128;
const loadersCount = 8;
const writersCount = 4;
const linearizableKeys = ["lin/a", "lin/b", "lin/c", "lin/d", "lin/e"];
const stepTimeoutMs = 120_000;

let cluster: TestCluster | undefined;
after(async () => cluster?.stop());

interface Replacement {
  readonly original: string;
  readonly replacement: string;
  readonly catchUpMs: number;
  readonly snapshotMiB: number;
  readonly totalMs: number;
  readonly senderPeakRssMiB: number;
  readonly receiverPeakRssMiB: number;
}

test("every member of a loaded cluster is replaced under writes: nothing acknowledged is lost, the history is linearizable, HashKV agrees", { timeout: 900_000 }, async () => {
  cluster = await TestCluster.start({ size: 3, consensus: "raft", extraArgs: ["--snapshot-count", "1000"] });
  const c = cluster;
  const live = new Set(c.endpoints());

  const loadStarted = Date.now();
  await load(c.endpoints());
  process.stderr.write(`migration: loaded ${keysTotal} keys of ${valueBytes} bytes in ${Date.now() - loadStarted} ms\n`);

  const history: HistoryOp[] = [];
  const acknowledged: string[] = [];
  let ids = 0;
  let writing = true;
  const writers = Array.from({ length: writersCount }, (_, i) =>
    writer(i + 1, () => writing, () => [...live], history, acknowledged, () => ids++),
  );

  const replacements: Replacement[] = [];
  for (const original of ["m1", "m2", "m3"]) {
    replacements.push(await replace(c, original, live));
  }
  writing = false;
  await Promise.all(writers);

  const reader = new SynodClient({ endpoints: [...live], callTimeoutMs: 10_000 });
  try {
    for (const key of linearizableKeys) {
      const invokeTime = performance.now();
      const got = await reader.kv.get(key);
      const output = got.kvs[0] === undefined ? null : Buffer.from(got.kvs[0].value).toString();
      history.push({ id: ids++, client: 0, op: { kind: "get", key }, invokeTime, completeTime: performance.now(), output });
    }
    const loaded = await reader.kv.get("k/", { prefix: true, limit: 1 });
    assert.equal(loaded.count, keysTotal, "every loaded key is still there");
    for (const key of acknowledged) {
      const got = await reader.kv.get(key);
      assert.equal(got.kvs.length, 1, `acknowledged write ${key} is there`);
    }
  } finally {
    reader.close();
  }

  const completed = history.filter((h) => h.completeTime !== undefined).length;
  process.stderr.write(`migration: ${completed} ops completed, ${history.length - completed} indeterminate, ${acknowledged.length} acknowledged unique puts\n`);
  const verdict = checkLinearizable(history, { stepBudget: 5_000_000 });
  assert.equal(verdict.verdict, "ok", JSON.stringify(verdict));
  assert.ok(completed > 200, `enough operations completed during the migration (${completed})`);

  const hashes = await agreedHashes([...live]);
  assert.equal(hashes.length, 3);
  assert.equal(new Set(hashes).size, 1, `every member has the same KV hash: ${hashes.join(" ")}`);
  const names = memberList([...live]).map((m) => m.name).sort();
  assert.deepEqual(names, ["n1", "n2", "n3"], "only the replacements are members");

  for (const r of replacements) {
    process.stderr.write(
      `migration: ${r.original} → ${r.replacement}: ${r.snapshotMiB} MiB snapshot, in sync after ${r.catchUpMs} ms, replaced in ${r.totalMs} ms; ` +
        `peak RSS during the snapshot: sender ${r.senderPeakRssMiB} MiB, receiver ${r.receiverPeakRssMiB} MiB\n`,
    );
  }
});

/** replace adds a learner, lets it catch up, promotes it and removes `originalName`. */
async function replace(c: TestCluster, originalName: string, live: Set<string>): Promise<Replacement> {
  const started = Date.now();
  const n = originalName.replace("m", "n");
  const original = memberList([...live]).find((m) => m.name === originalName);
  assert.ok(original !== undefined, `${originalName} is listed`);
  const leader = leaderMember(c, live);
  assert.ok(leader !== undefined, "a leader is known");

  const base = await TestCluster.reservePorts();
  const added = etcdctl([...live], ["member", "add", n, "--learner", `--peer-urls=http://127.0.0.1:${base + 1}`]);
  assert.equal(added.status, 0, added.stderr);
  const id = /Member\s+([0-9a-f]+) added/.exec(added.stdout)?.[1];
  const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added.stdout)?.[1];
  assert.ok(id !== undefined && initialCluster !== undefined, added.stdout);
  const index = c.addMemberProcess(n, base, initialCluster);

  // Sample both ends' memory while the new member catches up.
  let senderPeak = 0;
  let receiverPeak = 0;
  const sampler = setInterval(() => {
    senderPeak = Math.max(senderPeak, rssMiB(leader.child?.pid));
    receiverPeak = Math.max(receiverPeak, rssMiB(c.member(index).child?.pid));
  }, 100);
  let catchUpMs: number;
  try {
    catchUpMs = await until(`${n} to be promoted`, () => etcdctl([...live], ["member", "promote", id]).status === 0);
  } finally {
    clearInterval(sampler);
  }
  live.add(`127.0.0.1:${base}`);
  // The log was compacted long before (--snapshot-count), so the store came as a chunked snapshot.
  const snapshotBytes = await metric(c.member(index).metricsPort, "synod_snapshot_received_bytes_total");
  assert.ok(snapshotBytes > 10 * 1024 * 1024, `${n} received the store as a snapshot (${snapshotBytes} bytes)`);

  // Asked of the member it removes, etcd answers "server stopped": ask the others.
  const originalIndex = c.members.findIndex((m) => m.name === originalName);
  const originalMember = c.member(originalIndex);
  live.delete(`127.0.0.1:${originalMember.clientPort}`);
  const removed = etcdctl([...live], ["member", "remove", original.id]);
  assert.equal(removed.status, 0, removed.stderr);
  await until(`${originalName} to leave the member list`, () => !memberList([...live]).some((m) => m.name === originalName));
  await c.kill(originalIndex, "SIGTERM");
  return {
    original: originalName,
    replacement: n,
    catchUpMs,
    snapshotMiB: Math.round(snapshotBytes / 1024 / 1024),
    totalMs: Date.now() - started,
    senderPeakRssMiB: senderPeak,
    receiverPeakRssMiB: receiverPeak,
  };
}

/** load writes keysTotal keys `k/NNNNNN` with full txns from several connections. */
async function load(endpoints: readonly string[]): Promise<void> {
  const value = "v".repeat(valueBytes);
  let next = 0;
  const loaders = Array.from({ length: loadersCount }, async (_, i) => {
    const client = new SynodClient({ endpoints: [endpoints[i % endpoints.length] ?? ""], callTimeoutMs: 30_000 });
    try {
      for (;;) {
        const first = next;
        if (first >= keysTotal) return;
        next = Math.min(keysTotal, first + putsPerTxn);
        const puts = [];
        for (let k = first; k < next; k++) puts.push(op.put(`k/${String(k).padStart(6, "0")}`, value));
        await client.kv.txn({ success: puts });
      }
    } finally {
      client.close();
    }
  });
  await Promise.all(loaders);
}

/**
 * writer runs operations on a few keys (checked for linearizability) and
 * unique puts (checked for presence) through a random live member, until
 * told to stop. An op whose answer is lost is recorded without completion.
 */
async function writer(
  id: number,
  running: () => boolean,
  endpoints: () => string[],
  history: HistoryOp[],
  acknowledged: string[],
  nextId: () => number,
): Promise<void> {
  const clients = new Map<string, SynodClient>();
  const clientFor = (endpoint: string): SynodClient => {
    let client = clients.get(endpoint);
    if (client === undefined) {
      client = new SynodClient({ endpoints: [endpoint], attemptsMax: 1, callTimeoutMs: 5_000 });
      clients.set(endpoint, client);
    }
    return client;
  };
  let n = 0;
  try {
    while (running()) {
      const choices = endpoints();
      const endpoint = choices[Math.floor(Math.random() * choices.length)] ?? "";
      const client = clientFor(endpoint);
      const roll = Math.random();
      if (roll < 0.25) {
        const key = `ack/${id}/${n++}`;
        try {
          await client.kv.put(key, "x");
          acknowledged.push(key);
        } catch {
          await sleep(50);
        }
        continue;
      }
      const key = linearizableKeys[Math.floor(Math.random() * linearizableKeys.length)] ?? "lin/a";
      const value = `w${id}-${n++}`;
      const kvOp: KvOp = roll < 0.55 ? { kind: "put", key, value } : roll < 0.85 ? { kind: "get", key } : roll < 0.95 ? { kind: "cas", key, expected: null, value } : { kind: "delete", key };
      if (kvOp.kind === "cas") {
        // Compare against a value read just before, so swaps sometimes succeed.
        const seen = await client.kv.get(key).then((r) => (r.kvs[0] === undefined ? null : Buffer.from(r.kvs[0].value).toString())).catch(() => null);
        Object.assign(kvOp, { expected: seen });
      }
      const invokeTime = performance.now();
      try {
        const output = await perform(client, kvOp);
        history.push({ id: nextId(), client: id, op: kvOp, invokeTime, completeTime: performance.now(), output });
      } catch {
        // Unknown outcome: a write may still take effect; a read has none.
        if (kvOp.kind !== "get") history.push({ id: nextId(), client: id, op: kvOp, invokeTime });
        await sleep(50);
      }
    }
  } finally {
    for (const client of clients.values()) client.close();
  }
}

async function perform(client: SynodClient, kvOp: KvOp): Promise<string | null | boolean> {
  switch (kvOp.kind) {
    case "put":
      await client.kv.put(kvOp.key, kvOp.value);
      return null;
    case "get": {
      const got = await client.kv.get(kvOp.key);
      return got.kvs[0] === undefined ? null : Buffer.from(got.kvs[0].value).toString();
    }
    case "delete":
      await client.kv.delete(kvOp.key);
      return null;
    case "cas": {
      const guard = kvOp.expected === null ? compare.version(kvOp.key, "=", 0) : compare.value(kvOp.key, "=", kvOp.expected);
      const result = await client.kv.txn({ compare: [guard], success: [op.put(kvOp.key, kvOp.value)] });
      return result.succeeded;
    }
  }
}

interface ListedMember {
  readonly id: string;
  readonly name: string;
}

function memberList(endpoints: readonly string[]): ListedMember[] {
  const r = etcdctl(endpoints, ["member", "list", "-w", "json"]);
  assert.equal(r.status, 0, r.stderr);
  // ids exceed 2^53: read them as text before JSON.parse rounds them.
  const parsed = JSON.parse(r.stdout.replace(/"ID":(\d+)/g, '"ID":"$1"')) as { members: { ID: string; name?: string }[] };
  return parsed.members.map((m) => ({ id: BigInt(m.ID).toString(16), name: m.name ?? "" }));
}

/** leaderMember is the live member process that leads now. */
function leaderMember(c: TestCluster, live: Set<string>): TestCluster["members"][number] | undefined {
  for (const m of c.members) {
    if (m.child === undefined || !live.has(`127.0.0.1:${m.clientPort}`)) continue;
    const r = etcdctl([`127.0.0.1:${m.clientPort}`], ["endpoint", "status", "-w", "json"]);
    if (r.status !== 0) continue;
    const text = r.stdout.replace(/"(member_id|leader)":(\d+)/g, '"$1":"$2"');
    const [s] = JSON.parse(text) as { Status: { header: { member_id: string }; leader: string } }[];
    if (s !== undefined && s.Status.header.member_id === s.Status.leader) return m;
  }
  return undefined;
}

/** agreedHashes waits until every endpoint reports the same KV hash (the last writes may still be applying). */
async function agreedHashes(endpoints: readonly string[]): Promise<string[]> {
  let hashes: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = etcdctl(endpoints, ["endpoint", "hashkv"]);
    hashes = r.stdout.trim().split("\n").map((line) => line.split(", ")[1] ?? "");
    if (hashes.length === endpoints.length && new Set(hashes).size === 1) break;
    await sleep(200);
  }
  return hashes;
}

/** metric reads one counter from a member's /metrics. */
async function metric(metricsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1];
  return value === undefined ? 0 : Number(value);
}

/** rssMiB is a process's resident memory now (0 when it is gone). */
function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? 0 : Math.round(Number(kb) / 1024);
  } catch {
    return 0;
  }
}

async function until(what: string, done: () => boolean): Promise<number> {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > stepTimeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
  return Date.now() - started;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
