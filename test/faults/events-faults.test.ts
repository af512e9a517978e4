import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Mutex, SynodClient } from "../../src/client/index.js";
import type { WatchEvent } from "../../src/client/index.js";
import { etcdctl, TestCluster } from "../compat/cluster.js";

/**
 * Faults on real processes: a paused lock holder loses the lock only after its
 * TTL and its late fenced write is refused; watch streams equal the MVCC
 * history across leader kills; a leader failover does not expire leases.
 */
let cluster: TestCluster;
let client: SynodClient;

before(async () => {
  cluster = await TestCluster.start();
  client = new SynodClient({ endpoints: cluster.endpoints() });
});
after(async () => {
  client.close();
  await cluster.stop();
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function leaderIndex(): number | undefined {
  for (let i = 0; i < cluster.members.length; i++) {
    const m = cluster.member(i);
    if (m.child === undefined) continue;
    const r = etcdctl([`127.0.0.1:${m.clientPort}`], ["endpoint", "status", "-w", "json", "--command-timeout=2s"]);
    if (r.status !== 0) continue;
    const [s] = JSON.parse(r.stdout) as { Status: { leader: string | number; header: { member_id: string | number } } }[];
    if (s !== undefined && String(s.Status.leader) === String(s.Status.header.member_id)) return i;
  }
  return undefined;
}

async function killLeader(): Promise<number> {
  const leader = leaderIndex();
  assert.ok(leader !== undefined, "a leader exists");
  await cluster.kill(leader, "SIGKILL");
  return leader;
}

test("a paused lock holder loses the lock only after its TTL, and its late fenced write is refused", { timeout: 60_000 }, async () => {
  const holder = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "lock-holder.ts"), cluster.endpoints().join(",")], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  holder.stdout.on("data", (c: Buffer) => (out += c.toString()));
  try {
    for (let i = 0; i < 100 && !out.includes("held"); i++) await sleep(100);
    const holderToken = Number(/held (\d+)/.exec(out)?.[1]);
    assert.ok(holderToken > 0, out);
    holder.stdin.write("first\n");
    for (let i = 0; i < 50 && !out.includes("first"); i++) await sleep(100);
    assert.match(out, /wrote first/);

    // Pause the holder: its keep-alives stop, as in a long GC pause or a partition.
    holder.kill("SIGSTOP");
    const pausedAt = Date.now();
    const contender = new Mutex(client, "faults-lock", { ttlSeconds: 10 });
    await contender.lock();
    const waitedMs = Date.now() - pausedAt;
    assert.ok(waitedMs >= 2500, `the lock passed on only after the holder's TTL (waited ${waitedMs} ms)`);
    assert.ok((contender.fencingToken ?? 0) > holderToken, "the new holder's token is larger");

    // The old holder wakes up, still believing it holds the lock: fencing refuses its write.
    holder.kill("SIGCONT");
    holder.stdin.write("late\n");
    for (let i = 0; i < 100 && !out.includes("late"); i++) await sleep(100);
    assert.match(out, /refused late/);
    assert.equal(Buffer.from((await client.kv.get("faults/resource")).kvs[0]?.value ?? []).toString(), "first");
    await contender.unlock();
  } finally {
    holder.kill("SIGKILL");
  }
});

test("a watch stream equals the MVCC history across leader kills", { timeout: 90_000 }, async () => {
  const start = (await client.kv.put("wf/start", "0")).revision;
  const watcher = client.watch("wf/", { prefix: true, startRevision: start + 1 });
  const live: string[] = [];
  const consumed = (async () => {
    for await (const e of watcher) live.push(describe(e));
  })();
  let written = 0;
  const writer = (async () => {
    for (let i = 0; i < 60; i++) {
      await client.kv.put(`wf/k${i % 7}`, `v${i}`).then(
        () => written++,
        () => undefined,
      );
      if (i % 5 === 4) await client.kv.delete(`wf/k${i % 7}`).catch(() => undefined);
      await sleep(40);
    }
  })();
  for (let round = 0; round < 2; round++) {
    await sleep(600);
    const killed = await killLeader();
    await sleep(800);
    cluster.spawn(killed);
  }
  await writer;
  await cluster.waitHealthy();
  assert.ok(written > 20, `writes went through (${written})`);
  const end = (await client.kv.put("wf/end", "1")).revision;
  for (let i = 0; i < 100 && !live.some((l) => l.startsWith(`${end} `)); i++) await sleep(100);
  watcher.close();
  await consumed;

  // The history, replayed from the store afterwards through another member.
  const replay = new SynodClient({ endpoints: [...cluster.endpoints()].reverse() });
  const history: string[] = [];
  const again = replay.watch("wf/", { prefix: true, startRevision: start + 1 });
  for await (const e of again) {
    history.push(describe(e));
    if (e.kv.modRevision >= end) break;
  }
  again.close();
  replay.close();
  assert.deepEqual(live, history);
});

function describe(e: WatchEvent): string {
  return `${e.kv.modRevision} ${e.type} ${Buffer.from(e.kv.key).toString()} ${e.type === "put" ? Buffer.from(e.kv.value).toString() : ""}`;
}

test("a leader failover does not expire a lease", { timeout: 60_000 }, async () => {
  const lease = await client.lease(4, { keepAlive: false });
  await client.kv.put("lf/key", "v", { lease: lease.id });
  const grantedAt = Date.now();
  await sleep(1000);
  const killed = await killLeader();
  await sleep(3500); // past the lease's original deadline, with no keep-alive
  assert.ok(Date.now() - grantedAt > 4000);
  assert.equal((await client.kv.get("lf/key")).kvs.length, 1, "the failover extended the lease instead of expiring it");
  cluster.spawn(killed);
  // Without keep-alives it still expires in the end.
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    await sleep(200);
    gone = (await client.kv.get("lf/key")).kvs.length === 0;
  }
  assert.ok(gone, "the lease expired once its extended TTL ran out");
});
