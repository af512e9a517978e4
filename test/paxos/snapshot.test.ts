import assert from "node:assert/strict";
import { test } from "node:test";
import { groupId, logIndex, nodeId, term } from "../../src/consensus/types.js";
import { bytes, Cluster, text } from "./harness.js";

test("compaction drops the log and a lagging replica catches up from the snapshot", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  c.isolate(3);
  for (let i = 0; i < 10; i++) c.engine(1).propose(bytes(`v${i}`));
  c.stabilize();
  c.tick();
  const leader = c.engine(1);
  const applied = leader.status().appliedIndex;
  assert.ok(applied >= 10);
  assert.deepEqual(leader.compact(logIndex(applied + 1), bytes("x")), { ok: false, reason: "notApplied" });
  assert.deepEqual(leader.compact(logIndex(applied), bytes(`state@${applied}`)), { ok: true });
  assert.deepEqual(leader.compact(logIndex(applied), bytes("again")), { ok: false, reason: "alreadyCompacted" });
  assert.equal(leader.status().firstIndex, applied + 1);
  assert.equal(leader.entryAt(logIndex(applied)), undefined);
  c.heal();
  c.tick(6);
  const snaps = c.snapshots.get(nodeId(3)) ?? [];
  assert.equal(snaps.length, 1, "node 3 installed the snapshot");
  assert.equal(snaps[0]?.meta.index, applied);
  assert.equal(text(snaps[0]?.data ?? new Uint8Array()), `state@${applied}`);
  assert.equal(c.engine(3).status().commitIndex, leader.status().commitIndex);
  leader.propose(bytes("after"));
  c.stabilize();
  c.tick();
  assert.deepEqual(c.values(3), ["after"], "applies on top of the snapshot");
  c.checkAgreement();
});

test("a candidate behind a peer's snapshot gets it and then completes phase 1", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  c.isolate(3);
  for (let i = 0; i < 5; i++) c.engine(1).propose(bytes(`v${i}`));
  c.stabilize();
  c.tick();
  const applied2 = c.engine(2).status().appliedIndex;
  assert.deepEqual(c.engine(2).compact(logIndex(applied2), bytes("s2")), { ok: true });
  c.crash(1);
  c.heal();
  c.sent.length = 0;
  c.campaign(3);
  assert.ok(
    c.sent.some((m) => m.type === "snapshot" && m.from === 2 && m.to === 3),
    "node 2 answers the lagging candidate's prepare with its snapshot",
  );
  c.tick(30);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  const l = leaders[0] ?? 0;
  assert.ok(c.engine(3).status().commitIndex >= applied2, "node 3 learned the snapshot");
  assert.ok(c.engine(l).propose(bytes("z")).ok);
  c.stabilize();
  c.tick();
  assert.ok(c.values(2).includes("z") && c.values(3).includes("z"));
  c.checkAgreement();
});

test("a restarted replica keeps its promise, its accepted values and its commit index", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.engine(1).propose(bytes("a"));
  c.stabilize();
  c.tick();
  const ballot = c.engine(1).status().term;
  const commit = c.engine(3).status().commitIndex;
  c.crash(3);
  c.start(3);
  const s = c.engine(3).status();
  assert.equal(s.term, ballot, "promise survives");
  assert.equal(s.commitIndex, commit, "commit index survives");
  const e = c.engine(3).entryAt(logIndex(commit));
  assert.ok(e !== undefined && e.type === "normal" && text(e.data) === "a");
  c.stabilize();
  assert.deepEqual(c.values(3), ["a"], "re-applied from the durable log after restart");
  // A lower ballot than the promise is refused.
  c.engine(3).step({ type: "prepare", groupId: groupId(1), from: nodeId(2), to: nodeId(3), ballot: term(1), fromSlot: logIndex(1) });
  c.process();
  const last = c.sent[c.sent.length - 1];
  assert.equal(last?.type, "nack");
});

test("a promise that was never persisted is caught (planted fault)", () => {
  for (const faulty of [false, true]) {
    const c = new Cluster([1, 2, 3], faulty ? { faults: { forgetPromisePersist: true } } : {});
    if (faulty) assert.throws(() => c.campaign(1), /promise of .* not on disk/);
    else c.campaign(1);
  }
});

test("a snapshot installed below accepted values re-sends them in the same Ready (the whole stored log is replaced)", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  // Node 3 hears only accept batches: it accepts the values but does not learn they are chosen.
  c.filter = (m) => m.to !== 3 || m.type === "accept";
  for (const v of ["a", "b", "c"]) assert.ok(c.engine(1).propose(bytes(v)).ok);
  c.stabilize();
  c.tick();
  const leader = c.engine(1);
  const last = leader.status().lastIndex;
  assert.equal(c.engine(3).status().lastIndex, last, "node 3 accepted every value");
  assert.ok(c.engine(3).status().commitIndex < last - 1, "node 3 does not know them chosen");
  const at = logIndex(last - 1);
  assert.deepEqual(leader.compact(at, bytes(`state@${at}`)), { ok: true });
  const snapshot = leader.latestSnapshot();
  assert.ok(snapshot !== null);
  c.engine(3).step({ type: "snapshot", groupId: groupId(1), from: nodeId(1), to: nodeId(3), ballot: leader.status().term, snapshot });
  c.process();
  const disk = c.disks.get(nodeId(3));
  assert.equal(disk?.snapshot?.meta.index, at);
  assert.deepEqual(
    disk?.entries.map((e) => e.index),
    [last],
    "the accepted value above the snapshot is on disk again",
  );
  c.crash(3);
  c.start(3);
  const kept = c.engine(3).entryAt(logIndex(last));
  assert.ok(kept?.type === "normal" && text(kept.data) === "c", "and survives a restart");
});
