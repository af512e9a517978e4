/**
 * Measures a chunked snapshot transfer between real members (not part of the
 * test suite): for each store size, a 3-member Raft cluster with the default
 * 1 MiB chunks, a follower stopped while the store is filled, then restarted.
 * Prints the transfer time (from the receiver's log) and the resident memory of
 * sender and receiver sampled from /proc every 50 ms.
 *
 *   node --import tsx test/compat/snapshot-memory.ts 60 240     # store sizes in MiB
 */
import { readFileSync } from "node:fs";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { TestCluster } from "./cluster.js";

const valueBytes = 10 * 1024;
const mib = 1024 * 1024;

interface Memory {
  readonly rssKb: number;
  readonly anonKb: number;
  readonly peakKb: number;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rssKb: field("VmRSS"), anonKb: field("RssAnon"), peakKb: field("VmHWM") };
}

async function isLeader(cluster: TestCluster, i: number): Promise<boolean> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.member(i).metricsPort}/metrics`)).text();
  return text.includes("\nsynod_server_is_leader 1");
}

async function fill(endpoint: string, bytes: number): Promise<void> {
  const client = new Etcd3({ hosts: [`http://${endpoint}`], faultHandling: { global: noop, host: () => noop } });
  const count = Math.ceil(bytes / valueBytes);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await client.put(`key-${String(i).padStart(8, "0")}`).value(Buffer.alloc(valueBytes, i % 251));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  client.close();
}

async function measure(storeMib: number): Promise<void> {
  const cluster = await TestCluster.start({ size: 3, extraArgs: ["--snapshot-count", "1000"] });
  try {
    let leader = 0;
    while (!(await isLeader(cluster, leader))) leader = (leader + 1) % 3;
    const follower = (leader + 1) % 3;
    await cluster.kill(follower, "SIGTERM");
    await fill(cluster.endpoints()[leader] ?? "", storeMib * mib);
    const senderPid = cluster.member(leader).child?.pid ?? 0;
    const senderBefore = memoryOf(senderPid);
    cluster.spawn(follower);
    const receiverPid = cluster.member(follower).child?.pid ?? 0;
    const max = { sender: { rssKb: 0, anonKb: 0 }, receiver: { rssKb: 0, anonKb: 0 } };
    let done: RegExpExecArray | null = null;
    while (done === null) {
      await new Promise((r) => setTimeout(r, 50));
      for (const [side, pid] of [["sender", senderPid], ["receiver", receiverPid]] as const) {
        const m = memoryOf(pid);
        max[side].rssKb = Math.max(max[side].rssKb, m.rssKb);
        max[side].anonKb = Math.max(max[side].anonKb, m.anonKb);
      }
      done = /staged (\d+) rows \((\d+) bytes\) in (\d+) ms/.exec(cluster.member(follower).output);
    }
    const receiver = memoryOf(receiverPid);
    const sender = memoryOf(senderPid);
    const inMib = (kb: number): string => (kb / 1024).toFixed(0);
    process.stdout.write(
      `store ${storeMib} MiB: transferred ${(Number(done[2]) / mib).toFixed(1)} MiB (${done[1]} rows) in ${done[3]} ms; ` +
        `sender RSS ${inMib(senderBefore.rssKb)} → max ${inMib(max.sender.rssKb)} MiB (anonymous ${inMib(senderBefore.anonKb)} → max ${inMib(max.sender.anonKb)}), VmHWM ${inMib(sender.peakKb)}; ` +
        `receiver RSS max ${inMib(max.receiver.rssKb)} MiB (anonymous max ${inMib(max.receiver.anonKb)}), VmHWM ${inMib(receiver.peakKb)}\n`,
    );
  } finally {
    await cluster.stop();
  }
}

for (const size of process.argv.slice(2).map(Number)) await measure(size);
