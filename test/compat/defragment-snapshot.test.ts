import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { op, SynodClient } from "../../src/client/index.js";
import { etcdctl, TestCluster } from "./cluster.js";

/**
 * A defragment swaps the data file, so the leader's snapshot view (what a
 * lagging follower pulls) gives way to it; the leader must take it again, or
 * a follower that needs the snapshot would wait for the next compaction.
 */
let cluster: TestCluster;

before(async () => {
  cluster = await TestCluster.start({ size: 3, extraArgs: ["--snapshot-count", "100"] });
});
after(async () => {
  await cluster.stop();
});

function leaderIndex(): number {
  for (let i = 0; i < cluster.members.length; i++) {
    const m = cluster.member(i);
    if (m.child === undefined) continue;
    const r = etcdctl([`127.0.0.1:${m.clientPort}`], ["endpoint", "status", "-w", "json"]);
    if (r.status !== 0) continue;
    const [s] = JSON.parse(r.stdout.replace(/"(member_id|leader)":(\d+)/g, '"$1":"$2"')) as { Status: { header: { member_id: string }; leader: string } }[];
    if (s !== undefined && s.Status.header.member_id === s.Status.leader) return i;
  }
  return -1;
}

test("after a defragment of the leader, a follower that fell behind its log still gets the snapshot", async () => {
  const leader = leaderIndex();
  assert.ok(leader >= 0, "a leader is known");
  const follower = (leader + 1) % 3;
  await cluster.kill(follower, "SIGTERM");
  const leaderEndpoint = cluster.endpoints()[leader] ?? "";
  const client = new SynodClient({ endpoints: [leaderEndpoint] });
  try {
    // Many entries past --snapshot-count: the leader compacts its log beyond the follower.
    for (let i = 0; i < 600; i++) await client.kv.txn({ success: [op.put(`d/${i}`, "x".repeat(200))] });
  } finally {
    client.close();
  }
  const defrag = etcdctl([leaderEndpoint], ["defrag"]);
  assert.equal(defrag.status, 0, defrag.stderr);
  assert.match(defrag.stdout, /Finished defragmenting/);

  // No write after the defragment: only a snapshot taken again can catch the follower up.
  cluster.spawn(follower);
  const endpoints = [leaderEndpoint, cluster.endpoints()[follower] ?? ""];
  let hashes: string[] = [];
  for (let attempt = 0; attempt < 100; attempt++) {
    const r = etcdctl(endpoints, ["endpoint", "hashkv"]);
    hashes = r.stdout.trim().split("\n").map((line) => line.split(", ")[1] ?? "");
    if (r.status === 0 && hashes.length === 2 && hashes[0] === hashes[1]) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(hashes.length, 2);
  assert.equal(hashes[0], hashes[1], `the follower caught up from the snapshot:\n${cluster.member(follower).output}`);
  const metrics = await (await fetch(`http://127.0.0.1:${cluster.member(follower).metricsPort}/metrics`)).text();
  const received = Number(/^synod_snapshot_received_bytes_total (\S+)$/m.exec(metrics)?.[1] ?? "0");
  assert.ok(received > 0, `it came as a snapshot (${received} bytes received)`);
});
