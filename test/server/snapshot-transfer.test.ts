import assert from "node:assert/strict";
import { test } from "node:test";
import type { Entry, Snapshot } from "../../src/consensus/types.js";
import { groupId, logIndex, nodeId, term } from "../../src/consensus/types.js";
import type { ConsensusMessage } from "../../src/server/engines.js";
import { encodeCommand, KvStateMachine } from "../../src/server/kv-state-machine.js";
import type { PeerMessage, SnapshotTransferMessage } from "../../src/server/peer-messages.js";
import { peerMessageValidator } from "../../src/server/peer-messages.js";
import { decodeSnapshotDescriptor, encodeSnapshotDescriptor } from "../../src/server/snapshot-tables.js";
import { SnapshotTransfer } from "../../src/server/snapshot-transfer.js";
import type { EngineSnapshotMessage } from "../../src/server/snapshot-transfer.js";
import { Storage } from "../../src/storage/storage.js";
import { tempDir } from "../storage/helpers.js";

const group = groupId(1);
const senderId = nodeId(1);
const receiverId = nodeId(2);
const membership = { voters: [senderId, receiverId], votersOutgoing: [], learners: [] };
const pullTimeoutMs = 1_000;

/** Member is one side of a transfer: real storage and state machine, a transfer, and what it sent or delivered. */
interface Member {
  readonly storage: Storage;
  readonly sm: KvStateMachine;
  readonly transfer: SnapshotTransfer;
  readonly outbox: SnapshotTransferMessage[];
  readonly delivered: ConsensusMessage[];
  readonly logs: string[];
  readonly counts: { sent: number; received: number; resumed: number };
  latest: Snapshot | null;
}

let clockMs = 0;

function openMember(dir: string, self: typeof senderId, chunkBytesMax: number): Member {
  const storage = Storage.open({ dataDir: dir });
  const sm = new KvStateMachine(storage);
  const member: Member = {
    storage,
    sm,
    outbox: [],
    delivered: [],
    logs: [],
    counts: { sent: 0, received: 0, resumed: 0 },
    latest: null,
    transfer: undefined as unknown as SnapshotTransfer,
  };
  const transfer = new SnapshotTransfer(
    { self, groupId: group, chunkBytesMax, pullTimeoutMs },
    {
      tables: sm.snapshots,
      send: (m) => member.outbox.push(m),
      deliver: (m) => {
        member.delivered.push(m);
        // As an engine would: a snapshot it takes becomes its latest.
        if (m.type === "snapshot") member.latest = m.snapshot;
      },
      latestSnapshot: () => member.latest,
      appliedIndex: () => sm.appliedIndex(),
      log: (line) => member.logs.push(line),
      bytesSent: (n) => (member.counts.sent += n),
      bytesReceived: (n) => (member.counts.received += n),
      resumed: () => member.counts.resumed++,
      nowMs: () => clockMs,
    },
  );
  return Object.assign(member, { transfer });
}

async function close(member: Member): Promise<void> {
  member.transfer.stop();
  member.sm.snapshots.release();
  await member.storage.close();
}

/** putEntries applies `count` puts of `valueBytes` each from log index `first` on. */
async function putEntries(sm: KvStateMachine, first: number, count: number, valueBytes: number, tag = "v"): Promise<void> {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const key = Buffer.from(`key-${String(i).padStart(6, "0")}`);
    const value = Buffer.alloc(valueBytes, `${tag}${i % 10}`);
    entries.push({ index: logIndex(first + i), term: term(1), type: "normal", data: encodeCommand({ id: `c${first + i}`, request: { put: { key, value } } }) });
  }
  await sm.apply(entries);
}

/** takeSnapshot compacts the sender as the replica would: pin the applied state, make it the engine's latest. */
function takeSnapshot(sender: Member): EngineSnapshotMessage {
  const data = sender.sm.snapshotData();
  const index = decodeSnapshotDescriptor(data);
  assert.ok(index !== null);
  sender.latest = { meta: { index: logIndex(index), term: term(1), membership }, data };
  return { type: "snapshot", groupId: group, from: senderId, to: receiverId, term: term(1), snapshot: sender.latest };
}

/** pump carries messages both ways until nothing moves, dropping what `drop` says; returns the chunks seen. */
async function pump(sender: Member, receiver: Member, drop: (m: SnapshotTransferMessage, n: number) => boolean = () => false): Promise<SnapshotTransferMessage[]> {
  const seen: SnapshotTransferMessage[] = [];
  for (let idle = 0; idle < 5; ) {
    const toSender = receiver.outbox.splice(0);
    const toReceiver = sender.outbox.splice(0);
    for (const m of toSender) if (!drop(m, seen.length)) sender.transfer.receive(m);
    for (const m of toReceiver) {
      seen.push(m);
      if (!drop(m, seen.length)) receiver.transfer.receive(m);
    }
    idle = toSender.length + toReceiver.length === 0 ? idle + 1 : 0;
    // Staging commits land at the end of the event-loop turn.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  }
  return seen;
}

function rowsOf(sm: KvStateMachine): string[] {
  const out: string[] = [];
  for (const { key, value } of sm.snapshots.live.getRange({})) out.push(`${key.toString("hex")}=${value.toString("hex")}`);
  return out;
}

async function install(receiver: Member): Promise<void> {
  const message = receiver.delivered.at(-1);
  assert.ok(message?.type === "snapshot", "the held snapshot reached the engine");
  await receiver.sm.restore(message.snapshot);
}

test("a snapshot travels in bounded chunks from the pinned view and installs as of its index", async () => {
  const dirs = [tempDir("snap-send"), tempDir("snap-recv")];
  const sender = openMember(dirs[0]!.path, senderId, 4096);
  const receiver = openMember(dirs[1]!.path, receiverId, 4096);
  try {
    await putEntries(sender.sm, 1, 300, 500);
    const message = takeSnapshot(sender);
    const expected = rowsOf(sender.sm);
    // Writes after the snapshot must not leak into it.
    await putEntries(sender.sm, 301, 50, 500, "w");
    assert.equal(receiver.transfer.offer(message), true, "held back until staged");
    await new Promise((r) => setImmediate(r));
    const seen = await pump(sender, receiver);
    const chunks = seen.filter((m) => m.type === "snapshotChunk");
    assert.ok(chunks.length > 10, `many chunks (${chunks.length})`);
    for (const chunk of chunks) {
      const bytes = chunk.rows.reduce((n, [k, v]) => n + k.length + v.length, 0);
      assert.ok(bytes <= 4096 || chunk.rows.length === 1, `chunk of ${bytes} bytes`);
    }
    assert.equal(chunks.filter((c) => c.done).length, 1);
    assert.equal(receiver.delivered.length, 1);
    assert.equal(receiver.counts.received, sender.counts.sent);
    // A copy re-sent while the engine installs it waits, then goes to the engine: nothing is pulled again.
    assert.equal(receiver.transfer.offer(message), true);
    await install(receiver);
    receiver.transfer.tick();
    await new Promise((r) => setImmediate(r));
    assert.equal(receiver.delivered.length, 2);
    assert.deepEqual(receiver.outbox, []);
    assert.deepEqual(rowsOf(receiver.sm), expected);
    assert.equal(receiver.sm.appliedIndex(), 300);
    assert.equal(receiver.sm.snapshots.stagingProgress(), null, "installed: no staging left");
  } finally {
    await close(sender);
    await close(receiver);
    for (const d of dirs) d.cleanup();
  }
});

test("a pull cut off is sent again after the timeout and resumes after the last staged key", async () => {
  const dirs = [tempDir("snap-send"), tempDir("snap-recv")];
  const sender = openMember(dirs[0]!.path, senderId, 2048);
  const receiver = openMember(dirs[1]!.path, receiverId, 2048);
  try {
    await putEntries(sender.sm, 1, 100, 400);
    const message = takeSnapshot(sender);
    receiver.transfer.offer(message);
    await new Promise((r) => setImmediate(r));
    // Cut the connection after three chunks: later pulls and chunks are lost.
    await pump(sender, receiver, (m, n) => n >= 3 && m.type === "snapshotChunk");
    const staged = receiver.sm.snapshots.stagingProgress();
    assert.ok(staged !== null && !staged.complete && staged.afterKey !== null);
    assert.equal(receiver.delivered.length, 0);
    clockMs += pullTimeoutMs;
    receiver.transfer.tick();
    const again = receiver.outbox[0];
    assert.ok(again?.type === "snapshotPull");
    assert.deepEqual(Buffer.from(again.afterKey ?? []), Buffer.from(staged.afterKey), "asks after the last staged key");
    await pump(sender, receiver);
    assert.equal(receiver.counts.resumed, 1);
    await install(receiver);
    assert.equal(receiver.sm.appliedIndex(), 100);
    assert.deepEqual(rowsOf(receiver.sm), rowsOf(sender.sm));
  } finally {
    await close(sender);
    await close(receiver);
    for (const d of dirs) d.cleanup();
  }
});

test("a receiver restarted mid-transfer resumes from the progress on disk", async () => {
  const dirs = [tempDir("snap-send"), tempDir("snap-recv")];
  const sender = openMember(dirs[0]!.path, senderId, 2048);
  let receiver = openMember(dirs[1]!.path, receiverId, 2048);
  try {
    await putEntries(sender.sm, 1, 120, 400);
    const message = takeSnapshot(sender);
    receiver.transfer.offer(message);
    await new Promise((r) => setImmediate(r));
    // Stop delivering after five chunks, as if the receiver died there.
    await pump(sender, receiver, (m, n) => n >= 5 && m.type === "snapshotChunk");
    const before = receiver.sm.snapshots.stagingProgress();
    assert.ok(before !== null && before.rows > 0 && !before.complete);
    await close(receiver);
    receiver = openMember(dirs[1]!.path, receiverId, 2048);
    assert.deepEqual(receiver.sm.snapshots.stagingProgress(), before, "progress survived the restart");
    // Another member offers a newer snapshot first: the staged rows are kept for a while all the same.
    const other = { ...message, from: nodeId(3), snapshot: { meta: { ...message.snapshot.meta, index: logIndex(500) }, data: encodeSnapshotDescriptor(500) } };
    receiver.transfer.offer(other);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(receiver.outbox, []);
    assert.deepEqual(receiver.sm.snapshots.stagingProgress(), before, "staged rows kept");
    receiver.transfer.offer(message);
    const first = (receiver.outbox as readonly SnapshotTransferMessage[])[0];
    assert.ok(first?.type === "snapshotPull");
    assert.deepEqual(Buffer.from(first.afterKey ?? []), Buffer.from(before.afterKey ?? []), "the first pull after restart continues after the staged key");
    assert.ok(receiver.logs.some((l) => l.includes(`resuming after ${before.rows} staged rows`)));
    await pump(sender, receiver);
    assert.equal(receiver.counts.resumed, 1);
    await install(receiver);
    assert.deepEqual(rowsOf(receiver.sm), rowsOf(sender.sm));
  } finally {
    await close(sender);
    await close(receiver);
    for (const d of dirs) d.cleanup();
  }
});

test("a snapshot the sender no longer holds clears the staging; the newer one then transfers cleanly", async () => {
  const dirs = [tempDir("snap-send"), tempDir("snap-recv")];
  const sender = openMember(dirs[0]!.path, senderId, 2048);
  const receiver = openMember(dirs[1]!.path, receiverId, 2048);
  try {
    await putEntries(sender.sm, 1, 80, 400);
    const old = takeSnapshot(sender);
    receiver.transfer.offer(old);
    await new Promise((r) => setImmediate(r));
    await pump(sender, receiver, (m, n) => n >= 2 && m.type === "snapshotChunk");
    // The sender compacts again: the old view is released.
    await putEntries(sender.sm, 81, 40, 400, "n");
    const newer = takeSnapshot(sender);
    clockMs += pullTimeoutMs;
    receiver.transfer.tick();
    const seen = await pump(sender, receiver);
    assert.ok(seen.some((m) => m.type === "snapshotGone"));
    assert.equal(receiver.sm.snapshots.stagingProgress(), null, "staging cleared");
    assert.equal(receiver.delivered.length, 0);
    receiver.transfer.offer(newer);
    await new Promise((r) => setImmediate(r));
    await pump(sender, receiver);
    await install(receiver);
    assert.equal(receiver.sm.appliedIndex(), 120);
    assert.deepEqual(rowsOf(receiver.sm), rowsOf(sender.sm));
  } finally {
    await close(sender);
    await close(receiver);
    for (const d of dirs) d.cleanup();
  }
});

test("chunks that are out of order, from another node or for another snapshot change nothing", async () => {
  const dirs = [tempDir("snap-send"), tempDir("snap-recv")];
  const sender = openMember(dirs[0]!.path, senderId, 2048);
  const receiver = openMember(dirs[1]!.path, receiverId, 2048);
  try {
    await putEntries(sender.sm, 1, 60, 400);
    const message = takeSnapshot(sender);
    receiver.transfer.offer(message);
    await new Promise((r) => setImmediate(r));
    await pump(sender, receiver, (m, n) => n >= 2 && m.type === "snapshotChunk");
    const before = receiver.sm.snapshots.stagingProgress();
    assert.ok(before?.afterKey !== null && before !== null);
    const after = Buffer.concat([Buffer.from(before.afterKey ?? []), Buffer.from([0])]);
    const envelope = { groupId: group, from: senderId, to: receiverId };
    const row = (k: Buffer): [Uint8Array, Uint8Array] => [k, Buffer.from("x")];
    const bad: SnapshotTransferMessage[] = [
      { ...envelope, type: "snapshotChunk", index: 60, term: 1, rows: [row(Buffer.from("a"))], done: false },
      { ...envelope, type: "snapshotChunk", index: 60, term: 1, rows: [row(Buffer.concat([after, Buffer.from([2])])), row(after)], done: false },
      { ...envelope, from: nodeId(3), type: "snapshotChunk", index: 60, term: 1, rows: [row(after)], done: true },
      { ...envelope, type: "snapshotChunk", index: 61, term: 1, rows: [row(after)], done: true },
      { ...envelope, type: "snapshotChunk", index: 60, term: 2, rows: [row(after)], done: true },
      { ...envelope, type: "snapshotChunk", index: 60, term: 1, rows: [], done: false },
      { ...envelope, from: nodeId(3), type: "snapshotGone", index: 60 },
      { ...envelope, type: "snapshotGone", index: 59 },
    ];
    // Re-arm an outstanding pull, as after a timeout.
    clockMs += pullTimeoutMs;
    receiver.transfer.tick();
    receiver.outbox.splice(0);
    for (const m of bad) receiver.transfer.receive(m);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(receiver.sm.snapshots.stagingProgress(), before, "nothing staged from bad input");
    assert.equal(receiver.delivered.length, 0);
    // A malformed descriptor is dropped, not given to the engine.
    const wrong = { ...message, snapshot: { ...message.snapshot, meta: { ...message.snapshot.meta, index: logIndex(7) } } };
    assert.equal(receiver.transfer.offer(wrong), true);
    // The wire check refuses malformed transfer messages before they get here.
    const validate = peerMessageValidator("raft");
    assert.ok(validate({ ...envelope, type: "snapshotPull", index: 3, term: 1, afterKey: null }));
    assert.ok(validate({ ...envelope, type: "snapshotChunk", index: 3, term: 1, rows: [[new Uint8Array([1]), new Uint8Array()]], done: true }));
    assert.ok(validate({ ...envelope, type: "snapshotGone", index: 3 }));
    const malformed: unknown[] = [
      { ...envelope, type: "snapshotPull", index: 3, term: 1, afterKey: "k" },
      { ...envelope, type: "snapshotPull", index: -3, term: 1, afterKey: null },
      { ...envelope, type: "snapshotChunk", index: 3, term: 1, rows: [[new Uint8Array([1])]], done: true },
      { ...envelope, type: "snapshotChunk", index: 3, term: 1, rows: [["a", "b"]], done: true },
      { ...envelope, type: "snapshotChunk", index: 3, term: 1, rows: [], done: "yes" },
      { ...envelope, type: "snapshotGone" },
    ];
    for (const m of malformed) assert.equal(validate(m as PeerMessage), false, JSON.stringify(m));
  } finally {
    await close(sender);
    await close(receiver);
    for (const d of dirs) d.cleanup();
  }
});

test("another sender's older snapshot does not restart the staging until the current sender stops answering", async () => {
  const dirs = [tempDir("snap-send"), tempDir("snap-recv")];
  const sender = openMember(dirs[0]!.path, senderId, 2048);
  const receiver = openMember(dirs[1]!.path, receiverId, 2048);
  try {
    await putEntries(sender.sm, 1, 90, 400);
    const newer = takeSnapshot(sender);
    receiver.transfer.offer(newer);
    await new Promise((r) => setImmediate(r));
    await pump(sender, receiver, (m, n) => n >= 3 && m.type === "snapshotChunk");
    const before = receiver.sm.snapshots.stagingProgress();
    assert.ok(before !== null && before.index === 90 && before.rows > 0);
    // Node 3 offers a snapshot at 50: remembered, the staging of 90 goes on.
    const older = { ...newer, from: nodeId(3), snapshot: { meta: { ...newer.snapshot.meta, index: logIndex(50) }, data: encodeSnapshotDescriptor(50) } };
    assert.equal(receiver.transfer.offer(older), true);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(receiver.sm.snapshots.stagingProgress(), before);
    assert.deepEqual(receiver.outbox, [], "no pull to node 3 yet");
    // The sender of 90 stays silent past the timeout: the receiver turns to node 3's snapshot.
    clockMs += pullTimeoutMs;
    receiver.transfer.tick();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const pull = (receiver.outbox as readonly SnapshotTransferMessage[]).at(-1);
    assert.ok(pull?.type === "snapshotPull" && pull.to === nodeId(3) && pull.index === 50 && pull.afterKey === null);
    assert.equal(receiver.sm.snapshots.stagingProgress()?.index, 50, "staging restarted for the other snapshot");
  } finally {
    await close(sender);
    await close(receiver);
    for (const d of dirs) d.cleanup();
  }
});
