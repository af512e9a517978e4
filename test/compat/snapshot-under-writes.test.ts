import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { TestCluster } from "./cluster.js";

/**
 * A follower that needs a snapshot while clients keep writing faster than
 * --snapshot-count entries per transfer: the leader holds off its next
 * compaction while it serves the snapshot and while the receiver catches up
 * from the log after it, so the transfer completes once instead of starting
 * over at every compaction.
 */
const keyCount = 15_000;
const valueBytes = 1_000;

let cluster: TestCluster;

before(async () => {
  cluster = await TestCluster.start({ size: 3, extraArgs: ["--snapshot-count", "100", "--snapshot-chunk-bytes", String(64 * 1024)] });
});
after(async () => {
  await cluster.stop();
});

async function metric(i: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.member(i).metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

async function leaderIndex(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    for (let i = 0; i < cluster.members.length; i++) if ((await metric(i, "synod_server_is_leader").catch(() => 0)) === 1) return i;
    await sleep(100);
  }
  throw new Error("no leader");
}

function client(endpoint: string): Etcd3 {
  return new Etcd3({ hosts: [`http://${endpoint}`], faultHandling: { global: noop, host: () => noop } });
}

test("a snapshot sent while clients write faster than --snapshot-count completes once, and the follower catches up", { timeout: 180_000 }, async () => {
  const leader = await leaderIndex();
  const follower = (leader + 1) % 3;
  const leaderEndpoint = cluster.endpoints()[leader] ?? "";
  await cluster.kill(follower, "SIGTERM");

  // State well beyond what a few chunks carry: the transfer takes many pulls.
  const loader = client(leaderEndpoint);
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keyCount) {
        const i = next++;
        await loader.put(`key-${String(i).padStart(6, "0")}`).value(Buffer.alloc(valueBytes, i % 251));
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
  } finally {
    loader.close();
  }

  // Clients keep writing through the leader while the follower comes back.
  let writing = true;
  let written = 0;
  const writer = client(leaderEndpoint);
  const writers = Array.from({ length: 16 }, async (_, w) => {
    for (let n = 0; writing; n++) {
      await writer.put(`hot-${w}`).value(String(n));
      written++;
    }
  });
  const appliedAtRestart = await metric(leader, "synod_server_proposals_applied_total");
  cluster.spawn(follower);

  // Caught up: the follower's applied index is within reach of the leader's while writes go on.
  const deadline = Date.now() + 90_000;
  let caughtUp = false;
  while (Date.now() < deadline) {
    await sleep(250);
    const [ours, theirs] = await Promise.all([
      metric(follower, "synod_server_proposals_applied_total").catch(() => 0),
      metric(leader, "synod_server_proposals_applied_total"),
    ]);
    if (ours > appliedAtRestart && theirs - ours < 200) {
      caughtUp = true;
      break;
    }
  }
  const writtenDuringCatchUp = written;
  writing = false;
  await Promise.all(writers);
  writer.close();

  const output = cluster.member(follower).output;
  assert.ok(caughtUp, `the follower caught up while clients wrote:\n${output}`);
  assert.ok(writtenDuringCatchUp > 300, `clients wrote past several compaction points meanwhile (${writtenDuringCatchUp} puts)`);
  assert.ok((await metric(follower, "synod_snapshot_received_bytes_total")) > 10 * 1024 * 1024, "the follower received the state as a snapshot");
  // Offers may change before the first chunk is served; once chunks flow, the leader holds its snapshot.
  const staged = output.match(/staged \d+ rows/g) ?? [];
  assert.equal(staged.length, 1, `one transfer completed:\n${output}`);
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
