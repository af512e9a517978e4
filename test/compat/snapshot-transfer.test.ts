import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { etcdctl, TestCluster } from "./cluster.js";

/**
 * Chunked snapshot transfer between real members: a follower that missed more
 * state than one peer frame (16 MiB) could carry catches up from a snapshot
 * pulled in chunks, and a follower killed in the middle of a transfer resumes
 * after the last chunk it staged.
 */
const chunkBytes = 64 * 1024;
const keyCount = 30_000;
const valueBytes = 800;
const mib = 1024 * 1024;

let cluster: TestCluster;

async function metric(i: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.member(i).metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

async function leaderIndex(among: readonly number[]): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    for (const i of among) if ((await metric(i, "synod_server_is_leader")) === 1) return i;
    await sleep(100);
  }
  throw new Error("no leader");
}

/** writeKeys puts `count` keys of `bytes` each through `endpoint`, 64 at a time. */
async function writeKeys(endpoint: string, count: number, bytes: number, tag: string): Promise<void> {
  const client = new Etcd3({ hosts: [`http://${endpoint}`], faultHandling: { global: noop, host: () => noop } });
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        await client.put(`key-${String(i).padStart(6, "0")}`).value(Buffer.alloc(bytes, `${tag}${i % 10}`));
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
  } finally {
    client.close();
  }
}

/** hashOf is a member's HashKV answer (hash and revision), from etcdctl. */
function hashOf(i: number): string {
  const r = etcdctl([cluster.endpoints()[i] ?? ""], ["endpoint", "hashkv", "-w", "json"]);
  if (r.status !== 0) return `unavailable: ${r.stderr}`;
  const [answer] = JSON.parse(r.stdout) as { HashKV: { hash: number; header: { revision: number } } }[];
  return `${answer?.HashKV.hash}@${answer?.HashKV.header.revision}`;
}

async function waitSameHash(a: number, b: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [ha, hb] = [hashOf(a), hashOf(b)];
    if (ha === hb && !ha.startsWith("unavailable")) return ha;
    if (Date.now() > deadline) throw new Error(`hashes differ: ${ha} vs ${hb}\n${cluster.member(b).output}`);
    await sleep(200);
  }
}

/** memoryKb reads a process's resident set now, its peak, and its anonymous part (heap, not LMDB's mapped file), in KiB. */
function memoryKb(pid: number): { rss: number; peak: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rss: field("VmRSS"), peak: field("VmHWM"), anon: field("RssAnon") };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

for (const consensus of ["raft", "paxos"]) {
  describe(`${consensus}: chunked snapshot transfer`, () => {
    before(async () => {
      cluster = await TestCluster.start({ size: 3, consensus, extraArgs: ["--snapshot-count", "500", "--snapshot-chunk-bytes", String(chunkBytes)] });
    });
    after(async () => {
      await cluster.stop();
    });

    let fullStateBytes = 0;
    let follower = 0;
    let leader = 0;

    test("a follower that missed more than a frame's worth catches up from a snapshot pulled in chunks", async (t) => {
      leader = await leaderIndex([0, 1, 2]);
      follower = (leader + 1) % 3;
      await cluster.kill(follower, "SIGTERM");
      await writeKeys(cluster.endpoints()[leader] ?? "", keyCount, valueBytes, "a");
      // Restart the two that stayed up: the snapshot is then served from a view pinned again at start-up.
      const stayed = [leader, 3 - leader - follower];
      for (const i of stayed) await cluster.kill(i, "SIGKILL");
      for (const i of stayed) cluster.spawn(i);
      await cluster.waitHealthy(stayed);
      leader = await leaderIndex(stayed);
      const leaderPid = cluster.member(leader).child?.pid ?? 0;
      const other = 3 - leader - follower;
      const sentTotal = async (): Promise<number> => (await metric(leader, "synod_snapshot_sent_bytes_total")) + (await metric(other, "synod_snapshot_sent_bytes_total"));
      const sentBefore = await sentTotal();
      const leaderBefore = memoryKb(leaderPid);
      let leaderRssMaxKb = 0;
      let leaderAnonMaxKb = 0;
      const sampler = setInterval(() => {
        const now = memoryKb(leaderPid);
        leaderRssMaxKb = Math.max(leaderRssMaxKb, now.rss);
        leaderAnonMaxKb = Math.max(leaderAnonMaxKb, now.anon);
      }, 50);
      const started = Date.now();
      cluster.spawn(follower);
      try {
        await waitSameHash(leader, follower, 120_000);
      } finally {
        clearInterval(sampler);
      }
      const elapsedMs = Date.now() - started;
      const received = await metric(follower, "synod_snapshot_received_bytes_total");
      // Paxos acceptors answer a candidate behind their snapshot with it too: count what both peers sent.
      const sent = (await sentTotal()) - sentBefore;
      fullStateBytes = received;
      assert.ok(received > 20 * mib, `received ${received} bytes: more than one 16 MiB frame could carry`);
      assert.ok(sent >= received, `peers sent ${sent}, follower received ${received}`);
      // etcdctl runs synchronously, so the follower's last log lines may not have been read yet.
      for (let i = 0; i < 20 && !/staged \d+ rows/.test(cluster.member(follower).output); i++) await sleep(250);
      assert.match(cluster.member(follower).output, /staged \d+ rows/);
      const followerMem = memoryKb(cluster.member(follower).child?.pid ?? 0);
      t.diagnostic(
        `transfer of ${(received / mib).toFixed(1)} MiB in ${chunkBytes / 1024} KiB chunks: caught up in ${elapsedMs} ms (process start included); ` +
          `leader RSS ${(leaderBefore.rss / 1024).toFixed(0)} MiB before, max ${(leaderRssMaxKb / 1024).toFixed(0)} MiB during (anonymous ${(leaderBefore.anon / 1024).toFixed(0)} → max ${(leaderAnonMaxKb / 1024).toFixed(0)} MiB); ` +
          `follower RSS ${(followerMem.rss / 1024).toFixed(0)} MiB, peak ${(followerMem.peak / 1024).toFixed(0)} MiB, anonymous ${(followerMem.anon / 1024).toFixed(0)} MiB`,
      );
    });

    test("a follower killed in the middle of a transfer resumes after the last staged chunk", async () => {
      assert.ok(fullStateBytes > 0, "runs after the first test");
      await cluster.kill(follower, "SIGTERM");
      // A member that served a snapshot holds off compaction for two pull timeouts (10 s) so that its
      // receiver can catch up from the log; let that pass, so that these writes are compacted away.
      await sleep(11_000);
      // More than the leader keeps in flight to a silent follower (16 MiB), so it must send a snapshot again.
      await writeKeys(cluster.endpoints()[leader] ?? "", 2_000, 10 * 1024, "b");
      cluster.spawn(follower);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const received = await metric(follower, "synod_snapshot_received_bytes_total").catch(() => 0);
        if (received > 6 * mib) break;
        if (Date.now() > deadline) throw new Error(`transfer did not start:\n${cluster.member(follower).output}`);
        await sleep(10);
      }
      await cluster.kill(follower, "SIGKILL");
      const killedOutput = cluster.member(follower).output;
      cluster.spawn(follower);
      await waitSameHash(leader, follower, 120_000);
      // etcdctl runs synchronously, so the follower's last log lines may not have been read yet.
      for (let i = 0; i < 20 && !/staged \d+ rows/.test(cluster.member(follower).output); i++) await sleep(250);
      const output = cluster.member(follower).output;
      const resumedAt = /resuming after (\d+) staged rows \((\d+) bytes\)/.exec(output);
      if (resumedAt === null && consensus === "paxos") {
        // Under Paxos several acceptors offer snapshots taken at their own indexes; if the one whose
        // snapshot was staged does not offer it again within a pull timeout of the restart, the
        // receiver starts cleanly on another one instead of resuming (the issue allows either).
        assert.match(output, /pulling it from node/, `the restarted follower took a snapshot afresh:\n${output}`);
        return;
      }
      assert.ok(resumedAt !== null, `the restarted follower resumed:\n${output}\nbefore it was killed:\n${killedOutput}`);
      const stagedBytes = Number(resumedAt[2]);
      assert.ok(Number(resumedAt[1]) > 0 && stagedBytes > 6 * mib, `resumed from a later key: ${resumedAt[0]}`);
      assert.ok((await metric(follower, "synod_snapshot_transfers_resumed_total")) >= 1);
      // The staging progress counts every row; the restarted process pulled only those after the staged key.
      // Under Paxos another acceptor may still hold the log the follower lacks and catch it up from
      // there first, leaving the staged snapshot unfinished: then only the resume itself is checked.
      const total = /staged \d+ rows \((\d+) bytes\)/.exec(output);
      if (consensus === "raft") assert.ok(total !== null, output);
      if (total !== null) {
        const receivedAfter = await metric(follower, "synod_snapshot_received_bytes_total");
        assert.equal(receivedAfter, Number(total[1]) - stagedBytes);
        assert.ok(Number(total[1]) > fullStateBytes, "the second snapshot holds the whole, larger state");
      }
    });
  });
}
